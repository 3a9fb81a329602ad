package workflow

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/nats-io/nats.go"
)

// Who creates the namespace's streams and buckets: workers (NewWorker) and
// administrators (Deploy, `jetflow init`, `jetflow server` on a single
// node), never clients. A client only binds to what exists, so a read by a
// user who may only watch cannot create, and cannot silently re-create an
// empty bucket that someone deleted.

// DeployChange is what Deploy did to one stream or bucket.
type DeployChange struct {
	// Kind is "stream", "bucket" or "setting" (a shared setting recorded).
	Kind string
	Name string
	// Action is "created", "updated" or "unchanged".
	Action string
	// Detail says what an update changed (a subject added, a limit).
	Detail string
}

// Deploy sets up the namespace on nc as NewWorker does: it creates the task,
// event and dead-letter streams and the runs, steps and breakers buckets
// when missing, and updates existing ones in place where this version needs
// it (the task stream's subjects, the limits of WithEventLimits and
// WithDeadLetterLimits), and records the shared settings WithAckWait and
// WithRetention set (replacing the recorded ones: workers take them when
// they start). Other options are ignored. It needs the permissions of
// the worker or admin role.
func Deploy(ctx context.Context, nc *nats.Conn, opts ...Option) ([]DeployChange, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	env, err := wire.Setup(ctx, nc, cfg.wireConfig())
	if err != nil {
		return nil, err
	}
	if len(cfg.set) > 0 {
		// Only what was asked for: a Deploy that sets nothing shared leaves
		// the first worker to record its own.
		if err := adoptShared(ctx, env, &cfg, true); err != nil {
			return nil, err
		}
	}
	out := make([]DeployChange, len(env.Changes))
	for i, c := range env.Changes {
		out[i] = DeployChange(c)
	}
	// Say what the deployment's shared settings are now.
	if cfg.set["ackWait"] {
		out = append(out, DeployChange{Kind: "setting", Name: "ack wait", Action: "recorded", Detail: cfg.ackWait.String()})
	}
	if cfg.set["retention"] {
		out = append(out, DeployChange{Kind: "setting", Name: "retention", Action: "recorded", Detail: cfg.retention.String()})
	}
	return out, nil
}
