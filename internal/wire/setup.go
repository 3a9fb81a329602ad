package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the limits of the streams that any user allowed to publish
// events, or to have a task parked, can fill: without them, a loop of
// events or poison messages fills the disk.
const (
	DefaultEventsMaxAge       = 72 * time.Hour
	DefaultEventsMaxBytes     = 1 << 30 // 1 GiB
	DefaultDeadLetterMaxAge   = 30 * 24 * time.Hour
	DefaultDeadLetterMaxBytes = 256 << 20 // 256 MiB
)

// Config is how the engine's streams and buckets are laid out.
type Config struct {
	Prefix   string
	Replicas int
	// Memory keeps streams and buckets in memory (benchmarks only).
	Memory bool
	// EventsMaxAge and EventsMaxBytes bound the event stream: the oldest
	// events go first. Defaults DefaultEventsMaxAge, DefaultEventsMaxBytes.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// DeadLetterMaxAge and DeadLetterMaxBytes bound the dead-letter stream
	// likewise. Defaults DefaultDeadLetterMaxAge, DefaultDeadLetterMaxBytes.
	DeadLetterMaxAge   time.Duration
	DeadLetterMaxBytes int64
	// DedupeWindow is the task stream's duplicate window. Default 2m, well
	// past the ack wait after which a crashed worker's task is redone.
	DedupeWindow time.Duration
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = DefaultEventsMaxAge
	}
	if c.EventsMaxBytes <= 0 {
		c.EventsMaxBytes = DefaultEventsMaxBytes
	}
	if c.DeadLetterMaxAge <= 0 {
		c.DeadLetterMaxAge = DefaultDeadLetterMaxAge
	}
	if c.DeadLetterMaxBytes <= 0 {
		c.DeadLetterMaxBytes = DefaultDeadLetterMaxBytes
	}
	if c.DedupeWindow <= 0 {
		c.DedupeWindow = 2 * time.Minute
	}
	c.Prefix = NewNames(c.Prefix).Prefix
	return c
}

// Change is what Setup did to one stream or bucket.
type Change struct {
	// Kind is "stream" or "bucket".
	Kind string
	Name string
	// Action is "created", "updated" or "unchanged".
	Action string
	// Detail says what an update changed.
	Detail string
}

// newJS opens JetStream on nc. Async publishes get the same bound as
// synchronous ones: by default nats.go waits for their ack for ever, and an
// ack lost with a server that died (a stream leader killed) left a workflow
// task, and the step slot behind it, waiting for good.
func newJS(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetflow: jetstream: %w", err)
	}
	return js, nil
}

// withTimeout bounds ctx by 30 s when the caller set no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 30*time.Second)
}

// Setup creates the task, event and dead-letter streams and the buckets
// when missing, and brings existing ones up to what this version needs: the
// task stream's subjects, the limits of the event and dead-letter streams
// (other settings of an existing stream, its replicas among them, are kept).
// It is for workers and administrators; a client binds with Bind, and never
// creates anything.
func Setup(ctx context.Context, nc *nats.Conn, cfg Config) (*Env, error) {
	cfg = cfg.withDefaults()
	js, err := newJS(nc)
	if err != nil {
		return nil, err
	}
	names := NewNames(cfg.Prefix)
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var changes []Change
	for _, sc := range streamConfigs(names, cfg) {
		ch, err := ensureStream(ctx, js, sc)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	b, created, err := kv.OpenReport(ctx, js, kv.Config{Prefix: names.Prefix, Replicas: cfg.Replicas, Memory: cfg.Memory})
	if err != nil {
		return nil, err
	}
	runs, steps, breakers := kv.BucketNames(names.Prefix)
	for _, name := range []string{runs, steps, breakers} {
		ch := Change{Kind: "bucket", Name: name, Action: "unchanged"}
		if slices.Contains(created, name) {
			ch.Action = "created"
		} else if ch, err = raiseReplicas(ctx, js, name, cfg.Replicas); err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	b.Fast(nc)
	return &Env{NC: nc, JS: js, Names: names, Buckets: b, Config: cfg, MaxPayload: nc.MaxPayload(), Changes: changes}, nil
}

// raiseReplicas gives an existing bucket's stream the replicas asked for
// when it has fewer.
func raiseReplicas(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (Change, error) {
	ch := Change{Kind: "bucket", Name: bucket, Action: "unchanged"}
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return ch, fmt.Errorf("jetflow: opening bucket %s: %w", bucket, err)
	}
	have := st.CachedInfo().Config
	if replicas <= have.Replicas {
		return ch, nil
	}
	ch.Action, ch.Detail = "updated", fmt.Sprintf("replicas %d → %d", have.Replicas, replicas)
	have.Replicas = replicas
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return ch, fmt.Errorf("jetflow: raising the replicas of bucket %s to %d: %w (to change it by hand: nats stream edit KV_%s --replicas %d)", bucket, replicas, err, bucket, replicas)
	}
	return ch, nil
}

// streamConfigs are the engine's streams as this version wants them.
func streamConfigs(names Names, cfg Config) []jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	return []jetstream.StreamConfig{{
		Name:              names.TaskStream(),
		Description:       "jetflow tasks: workflow tasks, start hints, step tasks and delayed tasks",
		Subjects:          names.TaskSubjects(),
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           storage,
		Replicas:          cfg.Replicas,
		Duplicates:        cfg.DedupeWindow,
		AllowMsgSchedules: true,
		AllowRollup:       true,
	}, {
		Name:        names.EventStream(),
		Description: "jetflow status, breaker and schedule events",
		Subjects:    []string{names.Prefix + ".status.>", names.Prefix + ".breaker.>", names.Prefix + ".schedule.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.EventsMaxAge,
		MaxBytes:    cfg.EventsMaxBytes,
		Discard:     jetstream.DiscardOld,
		// Stored under StatusStored: one subject per run in the index.
		SubjectTransform: statusTransform(names),
	}, {
		Name:        names.DeadLetterStream(),
		Description: "jetflow task messages that could not be processed",
		Subjects:    []string{names.Prefix + ".dlq.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.DeadLetterMaxAge,
		MaxBytes:    cfg.DeadLetterMaxBytes,
		Discard:     jetstream.DiscardOld,
	}}
}

// statusTransform stores a run's events under StatusStored, without the
// event's name. Live subscribers still get every event on its full status
// subject; only what the stream keeps is renamed.
func statusTransform(names Names) *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      names.StatusSubject("*", "*", "*"),
		Destination: names.StatusStored("{{wildcard(1)}}", "{{wildcard(2)}}"),
	}
}

// ensureStream creates the stream, or updates an existing one in place
// where it lacks a subject or has other limits than want; everything else
// of an existing stream is kept (another process set it up, maybe with
// other replicas).
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (Change, error) {
	ch := Change{Kind: "stream", Name: want.Name}
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if err == nil {
			ch.Action = "created"
			return ch, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ch, fmt.Errorf("jetflow: creating stream %s: %w", want.Name, err)
		}
		// Another process created it meanwhile.
		st, err = js.Stream(ctx, want.Name)
	}
	if err != nil {
		return ch, fmt.Errorf("jetflow: opening stream %s: %w", want.Name, err)
	}
	have := st.CachedInfo().Config
	var what []string
	for _, s := range want.Subjects {
		if !slices.Contains(have.Subjects, s) {
			have.Subjects = append(have.Subjects, s)
			what = append(what, "subject "+s)
		}
	}
	if want.SubjectTransform != nil && have.SubjectTransform == nil {
		// Set up by a jetflow that stored events under their full status
		// subject: store new ones the new way (readers take both).
		what = append(what, "subject transform "+want.SubjectTransform.Source+" → "+want.SubjectTransform.Destination)
		have.SubjectTransform = want.SubjectTransform
	}
	if want.MaxAge > 0 && have.MaxAge != want.MaxAge {
		what = append(what, fmt.Sprintf("max age %s → %s", limitAge(have.MaxAge), want.MaxAge))
		have.MaxAge = want.MaxAge
	}
	if want.MaxBytes > 0 && have.MaxBytes != want.MaxBytes {
		what = append(what, fmt.Sprintf("max bytes %s → %s", limitBytes(have.MaxBytes), FormatBytes(want.MaxBytes)))
		have.MaxBytes = want.MaxBytes
	}
	if want.Replicas > have.Replicas {
		// Asked for more copies than the stream has (it was created by a
		// worker with fewer, or with the default 1): raise it, so that
		// "losing any one server loses no run" holds. Never lowered.
		what = append(what, fmt.Sprintf("replicas %d → %d", have.Replicas, want.Replicas))
		have.Replicas = want.Replicas
	}
	if want.MaxAge > 0 || want.MaxBytes > 0 {
		if have.Discard != jetstream.DiscardOld {
			what = append(what, "discard old")
			have.Discard = jetstream.DiscardOld
		}
	}
	if len(what) == 0 {
		ch.Action = "unchanged"
		return ch, nil
	}
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return ch, fmt.Errorf("jetflow: updating stream %s (%s): %w (to change it by hand: nats stream edit %s --replicas %d)", want.Name, strings.Join(what, ", "), err, want.Name, want.Replicas)
	}
	ch.Action, ch.Detail = "updated", strings.Join(what, ", ")
	return ch, nil
}

func limitAge(d time.Duration) string {
	if d <= 0 {
		return "unlimited"
	}
	return d.String()
}

func limitBytes(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return FormatBytes(n)
}

// Bind opens the engine's streams and buckets without creating anything:
// what a client does. When one is missing, the error is a
// *NotDeployedError (errors.Is ErrNotDeployed): nothing has set this
// namespace up, or someone deleted part of it.
func Bind(ctx context.Context, nc *nats.Conn, cfg Config) (*Env, error) {
	cfg = cfg.withDefaults()
	js, err := newJS(nc)
	if err != nil {
		return nil, err
	}
	names := NewNames(cfg.Prefix)
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for _, name := range []string{names.TaskStream(), names.EventStream()} {
		if _, err := js.Stream(ctx, name); err != nil {
			return nil, missing(names, "stream", name, err)
		}
	}
	runs, steps, breakers := kv.BucketNames(names.Prefix)
	var b kv.Buckets
	for _, x := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{runs, &b.Runs}, {steps, &b.Steps}, {breakers, &b.Breakers}} {
		if *x.kv, err = js.KeyValue(ctx, x.name); err != nil {
			return nil, missing(names, "bucket", x.name, err)
		}
	}
	b.Fast(nc)
	return &Env{NC: nc, JS: js, Names: names, Buckets: &b, Config: cfg, MaxPayload: nc.MaxPayload()}, nil
}

// missing turns "not found" into a *NotDeployedError.
func missing(names Names, kind, name string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) {
		return &NotDeployedError{Prefix: names.Prefix, Kind: kind, Name: name}
	}
	return fmt.Errorf("jetflow: opening %s %s: %w", kind, name, err)
}

// CheckDeployed reports, as a *NotDeployedError, a bucket of this Env that
// is gone (deleted since Bind), and nil otherwise. Callers use it on the
// error path of a read or write, to say "the deployment is missing" rather
// than "no such run".
func (e *Env) CheckDeployed(ctx context.Context, bucket string) error {
	_, err := e.JS.Stream(ctx, "KV_"+bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return &NotDeployedError{Prefix: e.Names.Prefix, Kind: "bucket", Name: bucket}
	}
	return nil
}
