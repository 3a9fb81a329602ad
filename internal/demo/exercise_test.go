package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// TestExercises runs each exercise workflow once and checks its output and
// its effects: one per position, each counted once, adding up to the output.
func TestExercises(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	svc := demo.NewServices(nil)
	w, err := workflow.NewWorker(context.Background(), nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	if err := demo.RegisterExercises(w, svc); err != nil {
		t.Fatalf("RegisterExercises: %v", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c, err := workflow.NewClient(context.Background(), nc)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	ctx := testenv.Context(t, 60*time.Second)

	// sums adds up the run's tally effects and counts them per value.
	sums := func(t *testing.T, id string) (sum int, byValue map[int]int) {
		t.Helper()
		effects, err := svc.Ledger.Effects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byValue = map[int]int{}
		for _, e := range effects {
			if e.Run == id && e.Kind == demo.EffectTally {
				sum += int(e.Amount)
				byValue[int(e.Amount)]++
			}
		}
		return sum, byValue
	}
	counted := func(t *testing.T, id string, n int) {
		t.Helper()
		sum, byValue := sums(t, id)
		if want := n * (n + 1) / 2; sum != want || len(byValue) != n {
			t.Errorf("%s: effects add up to %d over %d values, want %d over %d", id, sum, len(byValue), want, n)
		}
		for v, k := range byValue {
			if k != 1 {
				t.Errorf("%s: %d counted %d times, want once", id, v, k)
			}
		}
	}

	t.Run("long chain continues as new", func(t *testing.T) {
		run, err := workflow.Start(ctx, c, demo.LongChain, "long-1", demo.LongInput{Steps: 25, Batch: 10})
		if err != nil {
			t.Fatal(err)
		}
		got, err := run.Result(ctx)
		if want := (demo.Tallied{Steps: 25, Sum: 25 * 26 / 2}); err != nil || got != want {
			t.Fatalf("result: got %+v, %v; want %+v", got, err, want)
		}
		d, err := c.Describe(ctx, "long-1")
		if err != nil || d.Exec != 3 {
			t.Fatalf("describe: exec %d, %v; want 3 executions", d.Exec, err)
		}
		counted(t, "long-1", 25)
	})
	t.Run("fan-out", func(t *testing.T) {
		run, err := workflow.Start(ctx, c, demo.FanOut, "fan-1", demo.FanOutInput{Width: 40})
		if err != nil {
			t.Fatal(err)
		}
		got, err := run.Result(ctx)
		if want := (demo.Tallied{Steps: 40, Sum: 40 * 41 / 2}); err != nil || got != want {
			t.Fatalf("result: got %+v, %v; want %+v", got, err, want)
		}
		counted(t, "fan-1", 40)
	})
	for _, tc := range []struct {
		name   string
		in     demo.StepOrTimerInput
		winner string
		chosen int
	}{
		{"step wins", demo.StepOrTimerInput{N: 7, Timer: time.Hour}, demo.WinnerStep, demo.ChoseStep},
		{"timer wins", demo.StepOrTimerInput{N: 7, StepDelay: 2 * time.Second, Timer: 10 * time.Millisecond}, demo.WinnerTimer, demo.ChoseTimer},
	} {
		t.Run("selector "+tc.name, func(t *testing.T) {
			id := "race-" + tc.winner
			run, err := workflow.Start(ctx, c, demo.StepOrTimer, id, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := run.Result(ctx)
			if want := (demo.StepOrTimerOutput{Winner: tc.winner, Chosen: tc.chosen, Counted: 7}); err != nil || got != want {
				t.Fatalf("result: got %+v, %v; want %+v", got, err, want)
			}
			if _, byValue := sums(t, id); len(byValue) != 2 || byValue[7] != 1 || byValue[tc.chosen] != 1 {
				t.Errorf("effects by value: got %v, want the raced step's 7 and the choice %d once each", byValue, tc.chosen)
			}
		})
	}
}
