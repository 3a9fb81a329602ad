package workflow_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
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

// An execution that continued as new is purged whole after its retention:
// its retry records too, and nothing of the execution after it.
func TestContinuedExecutionIsPurgedWhole(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	var calls atomic.Int32
	flaky := steps.New("FlakyOnce", func(ctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			return 0, steps.NewError("Down", "first attempt fails")
		}
		return n + 1, nil
	})
	continues := workflow.New("RetriesThenContinues", func(ctx workflow.Context, n int) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{InitialInterval: 10 * time.Millisecond}})
		n, err := workflow.ExecuteStep(ctx, flaky, n).Get(ctx)
		if err != nil {
			return 0, err
		}
		if n == 1 {
			return 0, workflow.ContinueAsNew(ctx, n)
		}
		return n, workflow.Sleep(ctx, time.Minute) // still open when the first execution is purged
	})
	startWorker(t, nc, []workflow.Registrable{continues}, []steps.Handler{flaky}, workflow.WithRetention(time.Second))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := workflow.Start(ctx, c, continues, "continued", 0); err != nil {
		t.Fatal(err)
	}
	st, err := testenv.JetStream(t, nc).Stream(ctx, "KV_jetflow_steps")
	if err != nil {
		t.Fatal(err)
	}
	// keys lists the run's keys in the steps bucket, without "<id>.<inc>.".
	keys := func() (first, second []string) {
		t.Helper()
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("$KV.jetflow_steps.continued.>"))
		if err != nil {
			t.Fatal(err)
		}
		for s := range info.State.Subjects {
			k := strings.SplitN(s, ".", 5)[4]
			if strings.HasPrefix(k, "x2.") {
				second = append(second, k)
			} else {
				first = append(first, k)
			}
		}
		sort.Strings(first)
		return first, second
	}
	for {
		first, second := keys()
		if slices.Contains(second, "x2.1") { // the second execution ran its step
			if !slices.Contains(first, "r.1.2") && len(first) > 0 {
				t.Fatalf("first execution's keys %v: want its retry record r.1.2 among them", first)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the second execution never ran its step: keys %v, %v", first, second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		first, second := keys()
		if len(first) == 0 {
			if len(second) == 0 {
				t.Fatal("the second execution's keys went with the first's")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first execution's keys outlived its retention by 10 s: %v", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
