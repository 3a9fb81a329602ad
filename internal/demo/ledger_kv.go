package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	_, err = l.kv.Create(ctx, e.Key, data)
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

// Effects returns every effect, oldest first.
func (l *KVLedger) Effects(ctx context.Context) ([]Effect, error) {
	keys, err := l.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: listing effects: %w", err)
	}
	var out []Effect
	for k := range keys.Keys() {
		entry, err := l.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			_ = keys.Stop()
			return nil, fmt.Errorf("demo: reading effect %s: %w", k, err)
		}
		var e Effect
		if err := json.Unmarshal(entry.Value(), &e); err != nil {
			_ = keys.Stop()
			return nil, fmt.Errorf("demo: decoding effect %s: %w", k, err)
		}
		out = append(out, e)
	}
	sortByTime(out)
	return out, nil
}
