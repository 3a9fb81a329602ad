package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// replayStep defines a step that counts its calls.
func replayStep(name string, calls *atomic.Int32) *steps.Definition[string, string] {
	return steps.New(name, func(ctx context.Context, in string) (string, error) {
		calls.Add(1)
		return in + name, nil
	})
}

// replayVersion is one version of the workflow ReplayReorder: its decisions,
// in order, each a step name or "Sleep".
func replayVersion(order ...string) *workflow.Definition[string, string] {
	return workflow.New("ReplayReorder", func(ctx workflow.Context, in string) (string, error) {
		for _, name := range order {
			if name == "Sleep" {
				if err := workflow.Sleep(ctx, 500*time.Millisecond); err != nil {
					return "", err
				}
				continue
			}
			var err error
			if in, err = workflow.ExecuteStep(ctx, steps.Ref[string, string](name), in).Get(ctx); err != nil {
				return "", err
			}
		}
		return in, nil
	})
}

func TestReplayOfReorderedStepsFailsWithNonDeterminism(t *testing.T) {
	tests := []struct {
		name string
		// v1 runs until it waits on suspendedOn; its worker implements only
		// v1Steps, so it cannot get past suspendedOn even if it outlives it.
		v1, v1Steps, v2 []string
		suspendedOn     string
		wantSeq         int
		expected, found string
		// neverRuns is a step only v2's diverging decisions would run.
		neverRuns string
	}{{
		name:        "blocked on a step no worker implements yet",
		v1:          []string{"ReplayA", "ReplayB", "ReplayC"},
		v1Steps:     []string{"ReplayA"},
		suspendedOn: "ReplayB",
		v2:          []string{"ReplayA", "ReplayC", "ReplayB"},
		wantSeq:     2, expected: "step ReplayB", found: "step ReplayC",
		neverRuns: "ReplayC",
	}, {
		name:        "sleeping",
		v1:          []string{"ReplayA", "Sleep", "ReplayB"},
		v1Steps:     []string{"ReplayA"},
		suspendedOn: "Sleep",
		v2:          []string{"ReplayA", "ReplayB", "Sleep"},
		wantSeq:     2, expected: "timer Sleep", found: "step ReplayB",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const id = "reorder-1"
			srv := testenv.Start(t, false)
			nc := srv.Conn()
			c := newClient(t, nc)
			ctx := testenv.Context(t, 30*time.Second)
			calls := map[string]*atomic.Int32{}
			handlers := func(names ...string) []steps.Handler {
				var hs []steps.Handler
				for _, n := range names {
					if calls[n] == nil {
						calls[n] = &atomic.Int32{}
					}
					hs = append(hs, replayStep(n, calls[n]))
				}
				return hs
			}

			v1 := replayVersion(tc.v1...)
			_, stop1 := startWorker(t, nc, []workflow.Registrable{v1}, handlers(tc.v1Steps...))
			run, err := workflow.Start(ctx, c, v1, id, "")
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			waitSuspended(t, ctx, run, tc.suspendedOn)
			stop1()

			events := make(chan *nats.Msg, 64)
			sub, err := nc.ChanSubscribe("jetflow.status.ReplayReorder."+id+".*", events)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Unsubscribe() })
			v2 := replayVersion(tc.v2...)
			startWorker(t, nc, []workflow.Registrable{v2}, handlers("ReplayA", "ReplayB", "ReplayC"))

			_, err = run.Result(ctx)
			if !errors.Is(err, workflow.ErrNonDeterminism) {
				t.Fatalf("Result: got %v, want an error matching workflow.ErrNonDeterminism", err)
			}
			var nd *workflow.NonDeterminismError
			if !errors.As(err, &nd) {
				t.Fatalf("Result: got %T %v, want a *workflow.NonDeterminismError", err, err)
			}
			want := workflow.NonDeterminismError{Workflow: "ReplayReorder", WorkflowID: id, Seq: tc.wantSeq, Expected: tc.expected, Found: tc.found}
			if *nd != want {
				t.Errorf("NonDeterminismError: got %+v, want %+v", *nd, want)
			}
			var re *workflow.RunError
			if !errors.As(err, &re) || re.Status != kv.StatusFailed {
				t.Errorf("Result: got %v, want a *workflow.RunError with status %s", err, kv.StatusFailed)
			}
			d, err := run.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != kv.StatusFailed {
				t.Errorf("status: got %s, want %s", d.Status, kv.StatusFailed)
			}
			// The diverging decisions are not acted on: the history is v1's.
			hist, err := c.History(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) < tc.wantSeq || len(hist) > len(tc.v1) {
				t.Errorf("recorded positions: got %d, want %d to %d", len(hist), tc.wantSeq, len(tc.v1))
			}
			for i, cmd := range hist {
				if i < len(tc.v1) && cmd.Name != tc.v1[i] {
					t.Errorf("position %d: got %s %s recorded, want v1's %s", i+1, cmd.Kind, cmd.Name, tc.v1[i])
				}
			}
			if tc.neverRuns != "" {
				if got := calls[tc.neverRuns].Load(); got != 0 {
					t.Errorf("%s calls: got %d, want 0", tc.neverRuns, got)
				}
			}

			// The nondeterminism and failed events are published.
			seen := map[string]wire.Event{}
			for seen[wire.EventNonDeterminism].Event == "" || seen[wire.EventFailed].Event == "" {
				select {
				case m := <-events:
					var ev wire.Event
					if err := json.Unmarshal(m.Data, &ev); err != nil {
						t.Fatalf("event %q: %v", m.Data, err)
					}
					seen[ev.Event] = ev
				case <-ctx.Done():
					t.Fatalf("events: got %v, want nondeterminism and failed", keysOf(seen))
				}
			}
			if ev := seen[wire.EventNonDeterminism]; ev.Seq != tc.wantSeq || ev.ErrorType != "NonDeterminism" || ev.Error == "" {
				t.Errorf("nondeterminism event: got seq %d type %q error %q, want seq %d type NonDeterminism and a message",
					ev.Seq, ev.ErrorType, ev.Error, tc.wantSeq)
			}

			// The worker that failed the run goes on serving runs of v2.
			run2, err := workflow.Start(ctx, c, v2, "reorder-2", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := run2.Result(ctx); err != nil {
				t.Fatalf("a fresh run of v2: %v", err)
			}
		})
	}
}

// waitSuspended waits until the run waits on the step (or "Sleep") named on.
func waitSuspended[O any](t *testing.T, ctx context.Context, run *workflow.Run[O], on string) {
	t.Helper()
	for {
		d, err := run.Describe(ctx)
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		if d.CurrentStep == on {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s waits on %q (status %s), want %q", run.ID(), d.CurrentStep, d.Status, on)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
