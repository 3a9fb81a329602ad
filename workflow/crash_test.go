package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// The crash test runs a worker in a child process (this test binary, re-run
// as TestHelperWorkerProcess), kills it with SIGKILL while its steps run, and
// lets a worker in the test process finish every run.
const (
	crashURLEnv  = "JETFLOW_TEST_CRASH_WORKER_URL"
	crashChild   = "crash-child"
	crashSurvive = "crash-survivor"
	crashRuns    = 10
)

var (
	crashFirst = steps.New("CrashFirst", func(ctx context.Context, n int) (int, error) { return n + 1, nil })
	crashLast  = steps.New("CrashLast", func(ctx context.Context, n int) (int, error) { return n + 1, nil })
	// CrashMiddle has two implementations: the child's runs until the process
	// dies, the survivor's returns at once.
	crashMiddleRef = steps.Ref[int, int]("CrashMiddle")
	crashFlow      = workflow.New("CrashFlow", func(ctx workflow.Context, n int) (int, error) {
		for _, st := range []*steps.Definition[int, int]{crashFirst, crashMiddleRef, crashLast} {
			var err error
			if n, err = workflow.ExecuteStep(ctx, st, n).Get(ctx); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
)

func crashMiddle(hang bool) *steps.Definition[int, int] {
	return steps.New("CrashMiddle", func(ctx context.Context, n int) (int, error) {
		if hang {
			<-ctx.Done() // a long step: the process is killed long before
			return 0, ctx.Err()
		}
		return n * 10, nil
	})
}

func crashHandlers(hang bool) []steps.Handler {
	return []steps.Handler{crashFirst, crashMiddle(hang), crashLast}
}

// TestHelperWorkerProcess is the worker process of
// TestWorkerProcessKilledMidStep; it does nothing in a normal test run.
func TestHelperWorkerProcess(t *testing.T) {
	url := os.Getenv(crashURLEnv)
	if url == "" {
		t.Skip("the worker process of TestWorkerProcessKilledMidStep")
	}
	ctx, cancel := testenv.HelperDone(context.Background())
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	defer nc.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := workflow.NewWorker(ctx, nc, workflow.WithName(crashChild), workflow.WithAckWait(time.Second),
		workflow.WithDrainTimeout(0), workflow.WithLogger(log))
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	if err := w.RegisterWorkflow(crashFlow); err != nil {
		t.Fatal(err)
	}
	for _, h := range crashHandlers(true) {
		if err := w.RegisterStep(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestWorkerProcessKilledMidStep(t *testing.T) {
	srv := testenv.Start(t, true)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)

	started := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe("jetflow.status.CrashFlow.*."+wire.EventStepStarted, started)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	child := testenv.StartHelper(t, "TestHelperWorkerProcess", crashURLEnv+"="+srv.ClientURL())
	runs := make([]*workflow.Run[int], crashRuns)
	for i := range runs {
		if runs[i], err = workflow.Start(ctx, c, crashFlow, fmt.Sprintf("crash-%02d", i), i); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}

	// Kill the child once every run is inside its CrashMiddle step there.
	inMiddle := map[string]bool{}
	for len(inMiddle) < crashRuns {
		select {
		case m := <-started:
			var ev wire.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("step_started event %q: %v", m.Data, err)
			}
			if ev.Step == crashMiddleRef.Name() && ev.Worker == crashChild {
				inMiddle[ev.WorkflowID] = true
			}
		case <-child.Done():
			t.Fatalf("worker process exited before the kill (code %d)", child.ExitCode())
		case <-ctx.Done():
			t.Fatalf("runs in CrashMiddle on the worker process: got %d, want %d", len(inMiddle), crashRuns)
		}
	}
	_ = child.Kill()
	if got := child.ExitCode(); got != -1 {
		t.Fatalf("worker process exit code: got %d, want -1 (killed by a signal)", got)
	}

	survivorNC := srv.Conn()
	_, stop := startWorker(t, survivorNC, []workflow.Registrable{crashFlow}, crashHandlers(false),
		workflow.WithName(crashSurvive), workflow.WithAckWait(time.Second))
	for i, r := range runs {
		got, err := r.Result(ctx)
		if err != nil {
			t.Fatalf("%s: %v", r.ID(), err)
		}
		if want := (i+1)*10 + 1; got != want {
			t.Errorf("%s: got %d, want %d", r.ID(), got, want)
		}
	}
	// Every event the survivor published is stored once its worker is
	// stopped and its connection synced with the event stream.
	stop()
	testenv.SyncStream(t, ctx, survivorNC, "jetflow.status.Sync.sync.sync")

	keys := testenv.ResultKeys(testenv.CheckKVWrittenOnce(t, ctx, js, "jetflow_steps"))
	if got, want := len(keys), 3*crashRuns; got != want {
		t.Errorf("step results: got %d keys, want %d", got, want)
	}
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		for seq, want := range map[int]string{1: crashChild, 2: crashSurvive, 3: crashSurvive} {
			res, _, err := kv.Get[kv.Result](ctx, b.Steps, resultKey(t, ctx, b, r.ID(), seq))
			if err != nil {
				t.Errorf("result %s.%d: %v", r.ID(), seq, err)
				continue
			}
			if res.Worker != want {
				t.Errorf("result %s.%d recorded by %q, want %q", r.ID(), seq, res.Worker, want)
			}
		}
	}

	completed := map[string]int{}
	closed := map[string]int{}
	for _, ev := range testenv.Events(t, ctx, js, "JETFLOW_EVENTS", "jetflow.status.CrashFlow.*") {
		switch ev.Event {
		case wire.EventStepCompleted:
			completed[ev.WorkflowID+"."+strconv.Itoa(ev.Seq)]++
		case wire.EventCompleted:
			closed[ev.WorkflowID]++
		}
	}
	for _, r := range runs {
		for seq := 1; seq <= 3; seq++ {
			if got := completed[r.ID()+"."+strconv.Itoa(seq)]; got != 1 {
				t.Errorf("step_completed events for %s seq %d: got %d, want 1", r.ID(), seq, got)
			}
		}
	}
	if got, want := len(completed), 3*crashRuns; got != want {
		t.Errorf("positions with a step_completed event: got %d, want %d", got, want)
	}
	for _, r := range runs {
		if got := closed[r.ID()]; got != 1 {
			t.Errorf("completed events for %s: got %d, want 1", r.ID(), got)
		}
	}
}

// resultKey is where the result of position seq of run id's first
// execution is kept: under the run's incarnation, read from its record.
func resultKey(t testing.TB, ctx context.Context, b *kv.Buckets, id string, seq int) string {
	t.Helper()
	run, _, err := kv.Get[kv.Run](ctx, b.Runs, id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return kv.StepKey(kv.ExecKey(id, run.Inc, 1), seq)
}
