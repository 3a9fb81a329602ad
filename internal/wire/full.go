package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStoreFull matches (errors.Is) every *StoreFullError.
var ErrStoreFull = errors.New("jetflow: JetStream store full")

// StoreFullError is a write refused because a store limit is reached. It
// names the limit: the stream's own (max_bytes, max_msgs), or the server's
// or account's JetStream storage (max_file_store, max_memory_store, or the
// disk itself).
type StoreFullError struct {
	Stream string
	Limit  string
	Err    error
}

func (e *StoreFullError) Error() string {
	where := "a stream"
	if e.Stream != "" {
		where = "stream " + e.Stream
	}
	return fmt.Sprintf("jetflow: %s cannot take more: %s (%v)", where, e.Limit, e.Err)
}

func (e *StoreFullError) Is(target error) bool { return target == ErrStoreFull }
func (e *StoreFullError) Unwrap() error        { return e.Err }

// Explain turns a write refused for lack of space into a *StoreFullError
// that names the limit reached, read from the stream's configuration and
// the account's JetStream usage; any other error is returned as it is.
// stream is the stream written to ("" when unknown).
func (e *Env) Explain(ctx context.Context, err error, stream string) error {
	if err == nil || errors.Is(err, ErrStoreFull) {
		return err
	}
	var apiErr *jetstream.APIError
	msg := err.Error()
	streamLimit := strings.Contains(msg, "maximum bytes exceeded") || strings.Contains(msg, "maximum messages exceeded")
	storage := errors.As(err, &apiErr) && (apiErr.ErrorCode == 10023 || apiErr.ErrorCode == 10047) ||
		strings.Contains(msg, "insufficient resources") || strings.Contains(msg, "insufficient storage")
	if !streamLimit && !storage {
		return err
	}
	full := &StoreFullError{Stream: stream, Err: err}
	if streamLimit && stream != "" {
		full.Limit = "its own limit is reached"
		if st, serr := e.JS.Stream(ctx, stream); serr == nil {
			if info, ierr := st.Info(ctx); ierr == nil {
				full.Limit = fmt.Sprintf("its max_bytes %s / max_msgs %d are reached (%s in %d messages); raise them with `nats stream edit %s` or let retention purge",
					size(info.Config.MaxBytes), info.Config.MaxMsgs, size(int64(info.State.Bytes)), info.State.Msgs, stream)
			}
		}
		return full
	}
	full.Limit = "the server's JetStream storage is full (max_file_store / max_memory_store in its configuration, or the disk); free space or raise the limit, and delayed work fires again without a restart (the sweeper repairs what was lost)"
	if ai, aerr := e.JS.AccountInfo(ctx); aerr == nil {
		whose := "the server's max_file_store or max_memory_store (jetstream { ... } in its configuration) or its disk"
		if ai.Limits.MaxStore > 0 || ai.Limits.MaxMemory > 0 {
			whose = fmt.Sprintf("the account's JetStream limits (file %s, memory %s)", size(ai.Limits.MaxStore), size(ai.Limits.MaxMemory))
		}
		full.Limit = fmt.Sprintf("the JetStream storage is full: %s of file storage and %s of memory in use, and %s is reached; free space or raise the limit, and delayed work fires again without a restart (the sweeper repairs what was lost)",
			size(int64(ai.Store)), size(int64(ai.Memory)), whose)
	}
	return full
}

// size prints a byte count, or "none" for an unlimited (negative) one.
func size(n int64) string {
	switch {
	case n < 0:
		return "none"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
