package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bareConn connects to a fresh in-process server on which nothing is set up.
func bareConn(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatalf("starting embedded server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A client binds: on a server where nothing is set up it says the
// deployment is missing, and leaves the server as it found it.
func TestBindCreatesNothing(t *testing.T) {
	nc := bareConn(t)
	ctx := testContext(t, 10*time.Second)
	_, err := Bind(ctx, nc, Config{Prefix: "wt"})
	var nd *NotDeployedError
	if !errors.Is(err, ErrNotDeployed) || !errors.As(err, &nd) {
		t.Fatalf("Bind on an empty server: got %v, want a *NotDeployedError", err)
	}
	if nd.Kind != "stream" || nd.Name != "WT_TASKS" || nd.Prefix != "wt" {
		t.Errorf("got %+v, want stream WT_TASKS of prefix wt", nd)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if names.Err() != nil || len(got) != 0 {
		t.Fatalf("streams after Bind: got %v (%v), want none", got, names.Err())
	}

	// Set up, then a bucket deleted: Bind names the bucket.
	env, err := Setup(ctx, nc, Config{Prefix: "wt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Bind(ctx, nc, Config{Prefix: "wt"}); err != nil {
		t.Fatalf("Bind after Setup: %v", err)
	}
	if err := js.DeleteKeyValue(ctx, "wt_runs"); err != nil {
		t.Fatal(err)
	}
	_, err = Bind(ctx, nc, Config{Prefix: "wt"})
	if !errors.As(err, &nd) || nd.Kind != "bucket" || nd.Name != "wt_runs" {
		t.Fatalf("Bind without the runs bucket: got %v, want a *NotDeployedError naming bucket wt_runs", err)
	}
	if nd := env.CheckDeployed(ctx, "wt_runs"); !errors.Is(nd, ErrNotDeployed) {
		t.Errorf("CheckDeployed of a deleted bucket: got %v, want ErrNotDeployed", nd)
	}
	if _, err := js.KeyValue(ctx, "wt_runs"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("runs bucket after Bind: got %v, want still deleted", err)
	}
}

// Streams set up by an earlier version (no start subject, an event stream
// bounded only by age, an unbounded dead-letter stream) are updated in
// place by Setup, their messages kept.
func TestSetupUpdatesOlderStreamsInPlace(t *testing.T) {
	nc := bareConn(t)
	ctx := testContext(t, 10*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := NewNames("wt")
	for _, sc := range []jetstream.StreamConfig{
		{Name: names.TaskStream(), Subjects: []string{"wt.wf.>", "wt.step.>", "wt.sched.>"}, Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true, AllowRollup: true},
		{Name: names.EventStream(), Subjects: []string{"wt.status.>", "wt.breaker.>"}, MaxAge: 72 * time.Hour},
		{Name: names.DeadLetterStream(), Subjects: []string{"wt.dlq.>"}},
	} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "wt.status.order.r1.started", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	env, err := Setup(ctx, nc, Config{Prefix: "wt", DeadLetterMaxAge: time.Hour, DeadLetterMaxBytes: 1 << 20})
	if err != nil {
		t.Fatalf("Setup over older streams: %v", err)
	}
	want := map[string]string{
		names.TaskStream():       "updated: subject wt.start.>, subject wt.signal.>, subject wt.tick.>",
		names.EventStream():      "updated: subject wt.schedule.>, subject transform wt.status.*.*.* → wt.status.{{wildcard(1)}}.{{wildcard(2)}}, max bytes unlimited → 1GiB",
		names.DeadLetterStream(): "updated: max age unlimited → 1h0m0s, max bytes unlimited → 1MiB",
		"wt_runs":                "created",
	}
	for _, c := range env.Changes {
		got := c.Action
		if c.Detail != "" {
			got += ": " + c.Detail
		}
		if w, ok := want[c.Name]; ok && got != w {
			t.Errorf("%s %s: got %q, want %q", c.Kind, c.Name, got, w)
		}
	}
	for _, tt := range []struct {
		stream   string
		maxAge   time.Duration
		maxBytes int64
	}{
		{names.EventStream(), DefaultEventsMaxAge, DefaultEventsMaxBytes},
		{names.DeadLetterStream(), time.Hour, 1 << 20},
	} {
		info, err := stream(t, env, tt.stream).Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c := info.Config; c.MaxAge != tt.maxAge || c.MaxBytes != tt.maxBytes || c.Discard != jetstream.DiscardOld {
			t.Errorf("%s: got max age %s, max bytes %d, discard %v; want %s, %d, old", tt.stream, c.MaxAge, c.MaxBytes, c.Discard, tt.maxAge, tt.maxBytes)
		}
	}
	info, err := stream(t, env, names.TaskStream()).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Config.Subjects, names.TaskSubjects()) || info.Config.Retention != jetstream.WorkQueuePolicy {
		t.Errorf("task stream: got subjects %v, retention %v; want %v, work queue", info.Config.Subjects, info.Config.Retention, names.TaskSubjects())
	}
	if got := subjectCount(t, env, names.EventStream(), "wt.status.>"); got != 1 {
		t.Errorf("events after the update: got %d, want the 1 published before", got)
	}
	// Events from now on are stored under the run's subject; readers find
	// the old ones and the new ones.
	env.Emit(Event{Event: EventCompleted, Workflow: "order", WorkflowID: "r1"})
	syncEvents(t, ctx, env)
	if got := subjectCount(t, env, names.EventStream(), names.StatusStored("order", "r1")); got != 1 {
		t.Errorf("events stored under %s: got %d, want 1", names.StatusStored("order", "r1"), got)
	}
	last, err := LastStored(ctx, stream(t, env, names.EventStream()), names.StoredStatusFilters("order", "r1"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := LastStored(ctx, stream(t, env, names.EventStream()), []string{names.StatusFilter("order", "r1")})
	if err != nil || before == 0 || last <= before {
		t.Errorf("last stored event of r1: got %d (of the old form %d, %v), want the new one after the old", last, before, err)
	}
	again, err := Setup(ctx, nc, Config{Prefix: "wt", DeadLetterMaxAge: time.Hour, DeadLetterMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again.Changes {
		if c.Action != "unchanged" {
			t.Errorf("second Setup: %s %s %s %s, want unchanged", c.Kind, c.Name, c.Action, c.Detail)
		}
	}
}

func stream(t *testing.T, env *Env, name string) jetstream.Stream {
	t.Helper()
	st, err := env.JS.Stream(testContext(t, 5*time.Second), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st
}

// Nothing published on the status subjects can fill the disk: past its
// size limit the event stream drops its oldest events.
func TestEventStreamIsBounded(t *testing.T) {
	nc := bareConn(t)
	ctx := testContext(t, 20*time.Second)
	const limit = 64 << 10
	env, err := Setup(ctx, nc, Config{Prefix: "wt", EventsMaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"event":"step_retrying","error":"` + strings.Repeat("x", 1000) + `"}`)
	const n = 500 // about 8 times the limit
	for i := range n {
		if err := nc.Publish(env.Names.StatusSubject("order", "flood", "step_retrying"), payload); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	syncEvents(t, ctx, env)
	info, err := stream(t, env, env.Names.EventStream()).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > limit || info.State.Msgs >= n || info.State.Msgs == 0 {
		t.Fatalf("event stream after %d events of %d bytes: %d messages, %d bytes; want at most %d bytes, the newest kept",
			n, len(payload), info.State.Msgs, info.State.Bytes, limit)
	}
	if info.State.LastSeq != n+1 {
		t.Errorf("last sequence %d, want %d: the newest event (and the sync) kept", info.State.LastSeq, n+1)
	}
}

// A workflow consumer created with the workflow subject alone (by an
// earlier version) is updated in place to take the start subject too: the
// task waiting on it is still delivered, and so is a start hint.
func TestConsumerGainsStartSubjectInPlace(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 20*time.Second)
	name := env.Names.WorkflowConsumer("order")
	old := ConsumerConfig(name, env.Names.WorkflowSubject("order"), time.Minute, 100)
	if _, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(), old); err != nil {
		t.Fatalf("creating the old consumer: %v", err)
	}
	if err := env.Publish(ctx, env.Names.WorkflowSubject("order"), "", []byte("task")); err != nil {
		t.Fatal(err)
	}
	cfg := ConsumerConfig(name, env.Names.WorkflowSubject("order"), time.Minute, 100, env.Names.StartSubject("order"))
	seen := make(chan string, 4)
	startConsume(t, env, cfg, 4, discardLog(), func(m jetstream.Msg) {
		seen <- m.Subject()
		_ = m.Ack()
	})
	if err := env.Publish(ctx, env.Names.StartSubject("order"), "", []byte("start")); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for len(subjects) < 2 {
		select {
		case s := <-seen:
			subjects = append(subjects, s)
		case <-ctx.Done():
			t.Fatalf("delivered %v; want the waiting task and the start hint", subjects)
		}
	}
	slices.Sort(subjects)
	if want := []string{"wt.start.order", "wt.wf.order"}; !slices.Equal(subjects, want) {
		t.Errorf("got %v, want %v", subjects, want)
	}
	c, err := env.JS.Consumer(ctx, env.Names.TaskStream(), name)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.CachedInfo().Config.FilterSubjects; len(f) != 2 {
		t.Errorf("consumer filters: got %v, want the workflow and start subjects", f)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GiB", 1 << 30, true},
		{"256 MiB", 256 << 20, true},
		{"1.5GiB", 3 << 29, true},
		{"512mb", 512e6, true},
		{"4096", 4096, true},
		{"10KiB", 10240, true},
		{"", 0, false},
		{"lots", 0, false},
		{"-1GiB", 0, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("got %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
	for n, want := range map[int64]string{1 << 30: "1GiB", 256 << 20: "256MiB", 1000: "1000B", 3 << 29: "1536MiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d): got %q, want %q", n, got, want)
		}
	}
}

// A worker asking for more replicas than an existing deployment has raises
// them, or, where the servers cannot hold them (here: one server), says so
// with the command that does it, instead of going on with fewer copies
// than asked for.
func TestSetupRaisesReplicasOrSaysWhy(t *testing.T) {
	env := startEnv(t)
	_, err := Setup(testContext(t, 10*time.Second), env.NC, Config{Prefix: "wt", Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "replicas 1 → 3") || !strings.Contains(err.Error(), "--replicas 3") {
		t.Fatalf("got %v, want a refusal naming the replicas and the command", err)
	}
}
