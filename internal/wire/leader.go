package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// GetConfirmed reads key from the steps or runs bucket (bucket is the
// bucket's name) and decodes it into v. A key that a direct get does not
// find is read again from the stream's leader before ErrNotFound is
// believed: direct gets may be served by a replica that is behind, and a
// task is parked on a "not found" that comes from the leader only.
func GetConfirmed[T any](ctx context.Context, e *Env, b jetstream.KeyValue, key string) (T, error) {
	v, _, err := kv.Get[T](ctx, b, key)
	if !errors.Is(err, kv.ErrNotFound) {
		return v, err
	}
	st, serr := e.Stream(ctx, "KV_"+b.Bucket())
	if serr != nil {
		return v, serr
	}
	m, gerr := st.GetLastMsgForSubject(ctx, "$KV."+b.Bucket()+"."+key)
	switch {
	case errors.Is(gerr, jetstream.ErrMsgNotFound):
		return v, err
	case gerr != nil:
		return v, fmt.Errorf("kv: reading %s from the leader: %w", key, gerr)
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return v, err
	}
	if uerr := kv.Unmarshal(m.Data, &v); uerr != nil {
		return v, fmt.Errorf("%s: %w", key, uerr)
	}
	return v, nil
}

// PurgeSchedules drops every delayed task (retries, timers) still scheduled
// for one execution.
func (e *Env) PurgeSchedules(ctx context.Context, execKey string) error {
	st, err := e.Stream(ctx, e.Names.TaskStream())
	if err != nil {
		return err
	}
	subj := e.Names.Prefix + ".sched." + execKey + ".>"
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("jetflow: purging %s: %w", subj, err)
	}
	return nil
}
