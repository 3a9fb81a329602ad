package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fastBucket is a bucket whose Create and Update (the engine's hot writes:
// history batches, step results, run records) publish straight to the
// bucket's stream and read the ack without nats.go's KV layer, which
// checked every key with a regular expression and decoded every ack with
// encoding/json: together about 4 % of a worker's CPU. Everything else,
// and every case out of the ordinary (a create over a deleted key), goes
// to the wrapped bucket.
type fastBucket struct {
	jetstream.KeyValue
	nc     *nats.Conn
	prefix string
}

// Fast makes b's creates and updates take the fast path over nc, the
// connection b was opened on.
func (b *Buckets) Fast(nc *nats.Conn) {
	for _, kv := range []*jetstream.KeyValue{&b.Runs, &b.Steps, &b.Breakers} {
		if *kv != nil {
			if _, ok := (*kv).(*fastBucket); !ok {
				*kv = &fastBucket{KeyValue: *kv, nc: nc, prefix: "$KV." + (*kv).Bucket() + "."}
			}
		}
	}
}

// errWrongLastSequence is the stream's refusal of a write whose expected
// revision is not the key's.
var errWrongLastSequence = errors.New("wrong last sequence")

// withDefaultTimeout bounds ctx by 5 s when it has no deadline, as
// nats.go's KV calls do.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 5*time.Second)
}

// put writes data under key if the key is at revision rev (0: has none),
// and returns the new revision.
func (b *fastBucket) put(ctx context.Context, key string, data []byte, rev uint64) (uint64, error) {
	if !keyValid(key) {
		return 0, jetstream.ErrInvalidKey
	}
	m := &nats.Msg{Subject: b.prefix + key, Data: data, Header: nats.Header{}}
	m.Header[jetstream.ExpectedLastSubjSeqHeader] = []string{strconv.FormatUint(rev, 10)}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	// As nats.go's publish does: a stream without a leader for a moment
	// (a server failing over) has no responders; try again shortly.
	for try := 0; ; try++ {
		resp, err := b.nc.RequestMsgWithContext(ctx, m)
		if errors.Is(err, nats.ErrNoResponders) && try < 2 {
			select {
			case <-time.After(250 * time.Millisecond):
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if err != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				return 0, jetstream.ErrNoStreamResponse
			}
			return 0, err
		}
		return parseAck(resp.Data)
	}
}

// createOver finishes a create that the stream refused because the key
// has an entry: one direct get of that entry tells a value (the key
// exists) from a delete or purge marker, over which the create is made at
// the marker's revision. Two round trips for a lost race instead of the KV
// layer's three; an answer out of the ordinary goes to the KV layer.
func (b *fastBucket) createOver(ctx context.Context, key string, data []byte) (uint64, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	rev, marker, err := b.last(ctx, key)
	switch {
	case err != nil:
		return b.KeyValue.Create(ctx, key, data)
	case !marker:
		return 0, jetstream.ErrKeyExists
	}
	rev, err = b.put(ctx, key, data, rev)
	if errors.Is(err, errWrongLastSequence) {
		return 0, jetstream.ErrKeyExists // created by another meanwhile
	}
	return rev, err
}

// last reads the revision of key's last entry with a direct get, and
// whether that entry is a delete or purge marker, written by a client or by
// the server (a TTL's marker), read as nats.go's KV layer reads them. The
// engine's connections use the default JetStream API prefix (no domain),
// as put does; a bucket without direct gets gives no responders, and
// createOver leaves the case to the KV layer.
func (b *fastBucket) last(ctx context.Context, key string) (rev uint64, marker bool, err error) {
	resp, err := b.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.KV_"+b.Bucket()+"."+b.prefix+key, nil)
	if err != nil {
		return 0, false, err
	}
	if rev, err = strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64); err != nil || rev == 0 {
		return 0, false, fmt.Errorf("kv: direct get of %s: status %q", key, resp.Header.Get("Status"))
	}
	switch resp.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		marker = true
	case "":
		switch resp.Header.Get(jetstream.MarkerReasonHeader) {
		case "MaxAge", "Purge", "Remove":
			marker = true
		}
	}
	return rev, marker, nil
}

// parseAck reads the sequence from a publish ack such as
// {"stream":"KV_x","seq":12}; an error ack, or anything else, is decoded by
// encoding/json.
func parseAck(data []byte) (uint64, error) {
	if !bytes.Contains(data, []byte(`"error"`)) {
		if i := bytes.Index(data, []byte(`"seq":`)); i >= 0 {
			j := i + len(`"seq":`)
			k := j
			for k < len(data) && data[k] >= '0' && data[k] <= '9' {
				k++
			}
			if k > j && k < len(data) && (data[k] == ',' || data[k] == '}') {
				if seq, err := strconv.ParseUint(string(data[j:k]), 10, 64); err == nil {
					return seq, nil
				}
			}
		}
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return 0, fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, data)
	}
	if ack.Error != nil {
		apiErr := &jetstream.APIError{Code: ack.Error.Code, ErrorCode: jetstream.ErrorCode(ack.Error.ErrCode), Description: ack.Error.Description}
		if c := apiErr.ErrorCode; c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
			return 0, fmt.Errorf("%w: %w", errWrongLastSequence, apiErr)
		}
		return 0, apiErr
	}
	if ack.Seq == 0 {
		return 0, fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, data)
	}
	return ack.Seq, nil
}

// keyValid is nats.go's key rule without a regular expression: letters,
// digits, '-', '/', '_', '=' and '.', not starting or ending with '.'.
func keyValid(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '/', c == '_', c == '=', c == '.':
		default:
			return false
		}
	}
	return true
}
