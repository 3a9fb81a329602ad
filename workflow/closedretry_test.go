package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

var flakyAttempts atomic.Int64

var alwaysFails = steps.New("AlwaysFails", func(ctx context.Context, _ string) (string, error) {
	flakyAttempts.Add(1)
	return "", errors.New("the service is down")
})

// Retries forever, a second apart.
var flaky = workflow.New("Flaky", func(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 5 * time.Second,
		RetryPolicy: &steps.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1, MaxAttempts: 0}})
	return workflow.ExecuteStep(ctx, alwaysFails, in).Get(ctx)
})

// A retry already queued when its run was terminated is not run, and
// schedules no other: the run's step stops retrying for good.
func TestTerminatedRunStopsRetrying(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// state is the step's consumer and the run's retry schedules (the
	// retention purge, at position 0, left out).
	state := func() (queued, inFlight uint64, retries int) {
		// The step worker makes its consumer as it starts: none yet is
		// nothing queued yet.
		ci := &jetstream.ConsumerInfo{}
		if cons, err := js.Consumer(ctx, "JETFLOW_TASKS", "step_AlwaysFails"); err == nil {
			if ci, err = cons.Info(ctx); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		st, err := js.Stream(ctx, "JETFLOW_TASKS")
		if err != nil {
			t.Fatal(err)
		}
		si, err := st.Info(ctx, jetstream.WithSubjectFilter("jetflow.sched.flaky-1.>"))
		if err != nil {
			t.Fatal(err)
		}
		for subj := range si.State.Subjects {
			if !strings.HasSuffix(subj, ".0.0") {
				retries++
			}
		}
		return ci.NumPending, uint64(ci.NumAckPending), retries
	}
	waitState := func(what string, ok func(queued, inFlight uint64, retries int) bool) {
		t.Helper()
		for {
			q, f, r := state()
			if ok(q, f, r) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %d queued, %d in flight, %d retries scheduled, %d attempts", what, q, f, r, flakyAttempts.Load())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	startWorker(t, nc, []workflow.Registrable{flaky}, nil)
	_, stopSteps := startWorker(t, nc, nil, []steps.Handler{alwaysFails})
	if _, err := workflow.Start(ctx, c, flaky, "flaky-1", "x"); err != nil {
		t.Fatal(err)
	}
	waitState("the first retry scheduled", func(_, _ uint64, r int) bool { return r == 1 })
	stopSteps()
	before := flakyAttempts.Load()
	// The retry fires into the stream, where no runner takes it.
	waitState("the retry queued", func(q, _ uint64, r int) bool { return q == 1 && r == 0 })
	if err := c.Terminate(ctx, "flaky-1", "the service is gone for good"); err != nil {
		t.Fatal(err)
	}
	if rec, err := c.Wait(ctx, "flaky-1"); err != nil || rec.Status != workflow.StatusTerminated {
		t.Fatalf("%s, %v; want terminated", rec.Status, err)
	}
	startWorker(t, nc, nil, []steps.Handler{alwaysFails})
	waitState("the queued retry taken", func(q, f uint64, _ int) bool { return q == 0 && f == 0 })
	if _, _, r := state(); r != 0 || flakyAttempts.Load() != before {
		t.Fatalf("after the run ended: %d more attempts, %d retries scheduled; want none", flakyAttempts.Load()-before, r)
	}
}
