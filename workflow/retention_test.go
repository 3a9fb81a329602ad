package workflow_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

func TestClosedRunsArePurgedAfterRetention(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps, sleeper}, []steps.Handler{addOne}, workflow.WithRetention(time.Second))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "short-lived", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	// A long-running run in the same namespace must not be touched.
	if _, err := workflow.Start(ctx, c, sleeper, "still-running", time.Minute); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	count := func(stream, subject string) uint64 {
		t.Helper()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
	if got := count("KV_jetflow_steps", "$KV.jetflow_steps.short-lived.*.*"); got != 5 {
		t.Fatalf("before retention: got %d step results, want 5", got)
	}
	for {
		_, err := c.Describe(ctx, "short-lived")
		if errors.Is(err, workflow.ErrNotFound) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("run not purged after its retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := count("KV_jetflow_steps", "$KV.jetflow_steps.short-lived.>"); got != 0 {
		t.Errorf("after retention: got %d step results, want 0", got)
	}
	if got := count("JETFLOW_EVENTS", "jetflow.status.FiveSteps.short-lived"); got != 0 {
		t.Errorf("after retention: got %d events, want 0", got)
	}
	d, err := c.Describe(ctx, "still-running")
	if err != nil || d.Status != "running" {
		t.Fatalf("running run: got %+v, %v; want it untouched", d, err)
	}
}
