package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// Settings of one worker (WithName, WithWorkflowConcurrency,
// WithStepConcurrency, WithDrainTimeout, WithLogger, WithCacheSize,
// WithSweeper) are its own. Settings of the deployment are shared by every
// worker, because they configure what all of them use: the ack wait of the
// durable consumers they share (WithAckWait) and how long closed runs are
// kept (WithRetention). The first worker (or Deploy) records them in the
// runs bucket; a worker that does not set one takes the recorded value, and
// one that sets a different value is refused with a *SettingConflictError
// naming both — never the last writer silently deciding for all. Deploy
// (and `jetflow init`) change the recorded values; workers take them when
// they start.

// deploymentKey holds the shared settings in the runs bucket ('/' is never
// in a workflow ID).
const deploymentKey = "jetflow/deployment"

type sharedSettings struct {
	AckWait   time.Duration `msgpack:"aw"`
	Retention time.Duration `msgpack:"rt"`
	// Retention 0 means keep for ever; HasRetention tells it from "unset"
	// in records written before it existed.
	HasRetention bool      `msgpack:"hr"`
	By           string    `msgpack:"by,omitempty"`
	At           time.Time `msgpack:"at"`
}

// ErrSettingConflict matches (errors.Is) every *SettingConflictError.
var ErrSettingConflict = errors.New("jetflow: setting conflicts with the deployment's")

// SettingConflictError is a worker started with a shared setting that
// differs from the one the deployment records.
type SettingConflictError struct {
	Setting string
	Ours    string
	InForce string
	// By is who recorded the value in force.
	By string
}

func (e *SettingConflictError) Error() string {
	return fmt.Sprintf("jetflow: %s is %s for this deployment (recorded by %s), and this worker asks for %s: every worker shares it; drop the option to take %s, or change it for all with Deploy / jetflow init",
		e.Setting, e.InForce, e.By, e.Ours, e.InForce)
}

// Is matches ErrSettingConflict.
func (e *SettingConflictError) Is(target error) bool { return target == ErrSettingConflict }

// adoptShared reconciles cfg's shared settings with the deployment's: it
// records them when none are, takes the recorded ones where cfg does not
// set them, and refuses a conflict. With update (Deploy), cfg's explicit
// settings replace the recorded ones instead.
func adoptShared(ctx context.Context, env *wire.Env, cfg *config, update bool) error {
	if cfg.set["storage"] {
		// Storage cannot change in place: a worker asking for memory on a
		// deployment on disk (or the other way) says so.
		st, err := env.Stream(ctx, env.Names.TaskStream())
		if err != nil {
			return err
		}
		if have := st.CachedInfo().Config.Storage; (have == jetstream.MemoryStorage) != cfg.memory {
			ours, inForce := "file", "file"
			if cfg.memory {
				ours = "memory"
			}
			if have == jetstream.MemoryStorage {
				inForce = "memory"
			}
			return &SettingConflictError{Setting: "the storage", Ours: ours, InForce: inForce, By: "whoever created " + env.Names.TaskStream()}
		}
	}
	by := cfg.name
	if by == "" {
		by = "Deploy (jetflow init)"
	}
	mine := sharedSettings{AckWait: cfg.ackWait, Retention: cfg.retention, HasRetention: true, By: by, At: time.Now().UTC()}
	for try := 0; try < 5; try++ {
		rec, rev, err := kv.Get[sharedSettings](ctx, env.Buckets.Runs, deploymentKey)
		if errors.Is(err, kv.ErrNotFound) {
			if _, err = kv.Create(ctx, env.Buckets.Runs, deploymentKey, mine); errors.Is(err, kv.ErrExists) {
				continue // another worker recorded first: compare with it
			}
			return err
		}
		if err != nil && !errors.Is(err, kv.ErrCorrupt) {
			return err
		}
		if errors.Is(err, kv.ErrCorrupt) {
			rec = mine
		}
		if !rec.HasRetention {
			rec.Retention, rec.HasRetention = mine.Retention, true
		}
		changed := false
		check := func(name string, set bool, ours, inForce time.Duration, apply func()) error {
			switch {
			case ours == inForce:
			case !set:
				apply() // take the deployment's
			case update:
				changed = true
			default:
				return &SettingConflictError{Setting: name, Ours: ours.String(), InForce: inForce.String(), By: rec.By}
			}
			return nil
		}
		if err := check("the ack wait", cfg.set["ackWait"], cfg.ackWait, rec.AckWait, func() { cfg.ackWait = rec.AckWait }); err != nil {
			return err
		}
		if err := check("the retention of closed runs", cfg.set["retention"], cfg.retention, rec.Retention, func() { cfg.retention = rec.Retention }); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		if _, err := kv.Update(ctx, env.Buckets.Runs, deploymentKey, mine, rev); errors.Is(err, kv.ErrConflict) {
			continue
		} else {
			return err
		}
	}
	return fmt.Errorf("jetflow: recording the deployment's settings: too many concurrent changes")
}
