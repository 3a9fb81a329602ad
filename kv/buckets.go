package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Config says how the buckets are created.
type Config struct {
	// Prefix is the namespace; buckets are <Prefix>_runs and so on. Default "jetflow".
	Prefix string
	// Replicas for each bucket (1 on a single server, 3 on a cluster). Default 1.
	Replicas int
	// Memory keeps the buckets in memory instead of files (tests, benchmarks).
	Memory bool
}

// Buckets are the engine's three key-value buckets.
type Buckets struct {
	Runs     jetstream.KeyValue
	Steps    jetstream.KeyValue
	Breakers jetstream.KeyValue
}

// BucketNames returns the names of the runs, steps and breakers buckets.
func BucketNames(prefix string) (runs, steps, breakers string) {
	if prefix == "" {
		prefix = "jetflow"
	}
	return prefix + "_runs", prefix + "_steps", prefix + "_breakers"
}

// Open creates the buckets, or opens them when they exist.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Buckets, error) {
	b, _, err := OpenReport(ctx, js, cfg)
	return b, err
}

// OpenReport is Open that also returns the names of the buckets it created.
func OpenReport(ctx context.Context, js jetstream.JetStream, cfg Config) (*Buckets, []string, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	runs, steps, breakers := BucketNames(cfg.Prefix)
	var created []string
	open := func(name, desc string) (jetstream.KeyValue, error) {
		b, err := js.KeyValue(ctx, name)
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			if err != nil {
				return nil, fmt.Errorf("kv: opening bucket %s: %w", name, err)
			}
			return b, nil
		}
		kvc := jetstream.KeyValueConfig{
			Bucket:      name,
			Description: desc,
			History:     1,
			Replicas:    cfg.Replicas,
			Storage:     storage,
		}
		b, err = js.CreateKeyValue(ctx, kvc)
		if err == nil {
			created = append(created, name)
		} else if errors.Is(err, jetstream.ErrBucketExists) {
			// Another process created it meanwhile.
			b, err = js.KeyValue(ctx, name)
		}
		if err != nil {
			return nil, fmt.Errorf("kv: opening bucket %s: %w", name, err)
		}
		return b, nil
	}
	var b Buckets
	var err error
	if b.Runs, err = open(runs, "jetflow workflow runs"); err != nil {
		return nil, nil, err
	}
	if b.Steps, err = open(steps, "jetflow step results, first write wins"); err != nil {
		return nil, nil, err
	}
	if b.Breakers, err = open(breakers, "jetflow circuit breakers"); err != nil {
		return nil, nil, err
	}
	return &b, created, nil
}

// Create stores v under key only if the key holds no value. When it does, the
// error wraps ErrExists.
func Create[T any](ctx context.Context, b jetstream.KeyValue, key string, v T) (uint64, error) {
	data, err := Marshal(v)
	if err != nil {
		return 0, err
	}
	var rev uint64
	if fb, ok := b.(*fastBucket); ok {
		rev, err = fb.put(ctx, key, data, 0)
		if errors.Is(err, errWrongLastSequence) {
			// The key exists, or was deleted and may be created again.
			rev, err = fb.createOver(ctx, key, data)
		}
	} else {
		rev, err = b.Create(ctx, key, data)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("%w: %s", ErrExists, key)
		}
		return 0, fmt.Errorf("kv: creating %s: %w", key, err)
	}
	return rev, nil
}

// Update stores v under key only if the key is still at revision rev. When it
// is not, the error wraps ErrConflict.
func Update[T any](ctx context.Context, b jetstream.KeyValue, key string, v T, rev uint64) (uint64, error) {
	data, err := Marshal(v)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	if fb, ok := b.(*fastBucket); ok {
		nrev, err = fb.put(ctx, key, data, rev)
	} else {
		nrev, err = b.Update(ctx, key, data, rev)
	}
	if err != nil {
		if errors.Is(err, errWrongLastSequence) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("%w: %s at revision %d", ErrConflict, key, rev)
		}
		return 0, fmt.Errorf("kv: updating %s: %w", key, err)
	}
	return nrev, nil
}

// Get reads and decodes the value under key with its revision. A missing key
// gives ErrNotFound; an undecodable one ErrCorrupt.
func Get[T any](ctx context.Context, b jetstream.KeyValue, key string) (T, uint64, error) {
	var v T
	e, err := b.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return v, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return v, 0, fmt.Errorf("kv: reading %s: %w", key, err)
	}
	if err := Unmarshal(e.Value(), &v); err != nil {
		return v, e.Revision(), fmt.Errorf("%s: %w", key, err)
	}
	return v, e.Revision(), nil
}
