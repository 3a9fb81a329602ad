package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// KVLedger is a Ledger in a JetStream key-value bucket, so the workers of
// several processes share it and it outlives any of them (a chaos test kills
// workers and counts effects afterwards). Record is a create-only write:
// of two attempts with one key, the first write wins.
type KVLedger struct {
	kv jetstream.KeyValue
}

var _ Ledger = (*KVLedger)(nil)

// OpenKVLedger creates the bucket, or opens it when it exists.
func OpenKVLedger(ctx context.Context, js jetstream.JetStream, bucket string) (*KVLedger, error) {
	b, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "jetflow demo: effects of the simulated services"})
	if errors.Is(err, jetstream.ErrBucketExists) {
		b, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("demo: opening ledger bucket %s: %w", bucket, err)
	}
	return &KVLedger{kv: b}, nil
}

// Record stores e unless its key is known, and returns the stored effect.
func (l *KVLedger) Record(ctx context.Context, e Effect) (Effect, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("demo: encoding effect: %w", err)
	}
	// Like a service client, each try has a timeout of its own: a write
	// lost with a server that died would otherwise hold the attempt until
	// its start-to-close timeout. Trying again is safe, the write being
	// create-only: a first try that was stored finds itself below.
	for {
		cctx, cancel := context.WithTimeout(ctx, ledgerTry)
		_, err = l.kv.Create(cctx, e.Key, data)
		cancel()
		if err == nil || ctx.Err() != nil || !retryable(err) {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return e, fmt.Errorf("demo: recording effect %s: %w", e.Key, err)
	}
	entry, err := l.kv.Get(ctx, e.Key)
	if err != nil {
		return e, fmt.Errorf("demo: reading effect %s: %w", e.Key, err)
	}
	var old Effect
	if err := json.Unmarshal(entry.Value(), &old); err != nil {
		return e, fmt.Errorf("demo: decoding effect %s: %w", e.Key, err)
	}
	return old, nil
}

// ledgerTry bounds one write to the ledger.
const ledgerTry = 3 * time.Second

// retryable reports whether a write may have been lost to a server failing
// over, rather than refused.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected)
}

// Effects returns every effect, oldest first. It reads the bucket in one
// pass (a watcher over every key), not with a get per key: a refund reads
// the ledger to find its charge, and the chaos harness's exercise
// workflows put thousands of effects in it.
func (l *KVLedger) Effects(ctx context.Context) ([]Effect, error) {
	w, err := l.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("demo: listing effects: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []Effect
	for {
		select {
		case entry, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("demo: listing effects: the watcher stopped")
			}
			if entry == nil {
				// Every key's value was delivered.
				sortByTime(out)
				return out, nil
			}
			var e Effect
			if err := json.Unmarshal(entry.Value(), &e); err != nil {
				return nil, fmt.Errorf("demo: decoding effect %s: %w", entry.Key(), err)
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, fmt.Errorf("demo: listing effects: %w", ctx.Err())
		}
	}
}
