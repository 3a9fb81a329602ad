package wire

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

func TestSetupOpensExistingStreams(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 10*time.Second)
	// Another process set the engine up first, with other settings: Setup
	// opens what exists rather than failing.
	again, err := Setup(ctx, env.NC, Config{Prefix: "wt", DedupeWindow: time.Minute, EventsMaxAge: time.Hour})
	if err != nil {
		t.Fatalf("second Setup: got %v, want nil", err)
	}
	for _, name := range []string{again.Names.TaskStream(), again.Names.EventStream(), again.Names.DeadLetterStream()} {
		if _, err := env.JS.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	if got, want := again.Config.Replicas, 1; got != want {
		t.Errorf("got %d replicas, want the default %d", got, want)
	}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 10*time.Second)
	tests := []struct {
		name   string
		msgID  string
		wantN  uint64
		target string
	}{
		{"with an ID", "run1.3.1.task", 1, env.Names.StepSubject("dedupe")},
		{"without an ID", "", 2, env.Names.StepSubject("nodedupe")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				if err := env.Publish(ctx, tt.target, tt.msgID, []byte("x")); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			if got := subjectCount(t, env, env.Names.TaskStream(), tt.target); got != tt.wantN {
				t.Errorf("got %d messages on %s, want %d", got, tt.target, tt.wantN)
			}
		})
	}
}

func TestPublishAt(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 20*time.Second)
	tests := []struct {
		name string
		in   time.Duration
	}{
		{"in the past", -time.Second},
		{"now", 0},
		{"300ms ahead", 300 * time.Millisecond},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := fmt.Sprintf("run%d", i)
			target := env.Names.WorkflowSubject("timer" + run)
			sched := env.Names.ScheduleSubject(run, 4, 1)
			msgID := MsgID(run, 4, 1, "timer")
			at := time.Now().Add(tt.in)
			if err := env.PublishAt(ctx, sched, target, msgID, []byte("fire"), at); err != nil {
				t.Fatalf("PublishAt: %v", err)
			}
			waitFor(t, 10*time.Second, "the message on "+target, func() bool {
				return subjectCount(t, env, env.Names.TaskStream(), target) > 0
			})
			st, err := env.JS.Stream(ctx, env.Names.TaskStream())
			if err != nil {
				t.Fatalf("task stream: %v", err)
			}
			m, err := st.GetLastMsgForSubject(ctx, target)
			if err != nil {
				t.Fatalf("reading %s: %v", target, err)
			}
			if got, want := string(m.Data), "fire"; got != want {
				t.Errorf("got data %q, want %q", got, want)
			}
			if m.Time.Before(at) {
				t.Errorf("stored at %s, %v before it was due at %s", m.Time.Format(time.RFC3339Nano), at.Sub(m.Time), at.Format(time.RFC3339Nano))
			}
			// The schedule fired once and is gone.
			waitFor(t, 5*time.Second, "the schedule to be removed", func() bool {
				return subjectCount(t, env, env.Names.TaskStream(), sched) == 0
			})
			if got := subjectCount(t, env, env.Names.TaskStream(), target); got != 1 {
				t.Errorf("got %d messages on %s, want 1", got, target)
			}
		})
	}
}

func TestServed(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 10*time.Second)
	name := env.Names.StepConsumer("served")
	if env.Served(ctx, name) {
		t.Fatalf("got served before any worker created %s, want not", name)
	}
	if _, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(),
		ConsumerConfig(name, env.Names.StepSubject("served"), time.Minute, 10)); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	if !env.Served(ctx, name) {
		t.Fatalf("got not served after %s was created, want served", name)
	}
	// Positive answers are cached: consumers are durable.
	if err := env.JS.DeleteConsumer(ctx, env.Names.TaskStream(), name); err != nil {
		t.Fatalf("deleting %s: %v", name, err)
	}
	if !env.Served(ctx, name) {
		t.Errorf("got not served after a positive answer, want the cached answer")
	}
}

func TestPurgeRun(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 10*time.Second)
	// "r10" shares a prefix with "r1"; "r1" of another workflow type would
	// share its status subjects' ID.
	runs := []struct{ workflow, id string }{{"order", "r1"}, {"order", "r10"}, {"refund", "r2"}}
	for _, r := range runs {
		if _, err := env.Buckets.Runs.Put(ctx, r.id, []byte("run "+r.id)); err != nil {
			t.Fatalf("writing run %s: %v", r.id, err)
		}
		for _, key := range []string{kv.StepKey(r.id, 1), kv.StepKey(r.id, 2), kv.ClaimKey(r.id, 2, 1)} {
			if _, err := env.Buckets.Steps.Put(ctx, key, []byte("step")); err != nil {
				t.Fatalf("writing step %s: %v", key, err)
			}
		}
		env.Emit(Event{Event: EventStarted, Workflow: r.workflow, WorkflowID: r.id})
		env.Emit(Event{Event: EventCompleted, Workflow: r.workflow, WorkflowID: r.id})
	}
	syncEvents(t, ctx, env)
	if got := subjectCount(t, env, env.Names.EventStream(), env.Names.StatusStored("order", "r1")); got != 2 {
		t.Fatalf("got %d status events of r1 before the purge, want 2", got)
	}

	if err := env.PurgeRun(ctx, "order", "r1"); err != nil {
		t.Fatalf("PurgeRun: %v", err)
	}

	if _, err := env.Buckets.Runs.Get(ctx, "r1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("run r1: got %v, want ErrKeyNotFound", err)
	}
	for _, id := range []string{"r10", "r2"} {
		if _, err := env.Buckets.Runs.Get(ctx, id); err != nil {
			t.Errorf("run %s: got %v, want it kept", id, err)
		}
	}
	keys, err := env.Buckets.Steps.Keys(ctx)
	if err != nil {
		t.Fatalf("listing step keys: %v", err)
	}
	var wantKeys []string
	for _, id := range []string{"r10", "r2"} {
		wantKeys = append(wantKeys, kv.StepKey(id, 1), kv.StepKey(id, 2), kv.ClaimKey(id, 2, 1))
	}
	slices.Sort(keys)
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("got step keys %v, want %v", keys, wantKeys)
	}
	events := map[string]uint64{}
	for _, r := range runs {
		events[r.id] = subjectCount(t, env, env.Names.EventStream(), env.Names.StatusStored(r.workflow, r.id))
	}
	if want := map[string]uint64{"r1": 0, "r10": 2, "r2": 2}; !maps.Equal(events, want) {
		t.Errorf("got status events per run %v, want %v", events, want)
	}
	// A purge leaves no delete markers behind.
	runsBucket, stepsBucket, _ := kv.BucketNames(env.Names.Prefix)
	if got := subjectCount(t, env, "KV_"+runsBucket, "$KV."+runsBucket+".r1"); got != 0 {
		t.Errorf("got %d messages left on r1's run key, want 0", got)
	}
	if got := subjectCount(t, env, "KV_"+stepsBucket, "$KV."+stepsBucket+".r1.>"); got != 0 {
		t.Errorf("got %d messages left on r1's step keys, want 0", got)
	}
}

// subjectCount returns how many messages stream holds on subjects matching filter.
func subjectCount(t *testing.T, env *Env, stream, filter string) uint64 {
	t.Helper()
	ctx := testContext(t, 5*time.Second)
	st, err := env.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatalf("stream %s filtered by %s: %v", stream, filter, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
