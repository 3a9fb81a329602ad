package workflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// smallStore starts a server whose JetStream holds 8 MiB of files, and a
// worker with bounded streams (they reserve their size) on it.
func smallStore(t *testing.T, wfs []workflow.Registrable, sts []steps.Handler) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("jetstream {\n  max_file_store: 8MB\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(embedded.Options{StoreDir: filepath.Join(dir, "store"), ConfigFile: conf, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	startWorker(t, nc, wfs, sts, fastSweeper, workflow.WithEventLimits(0, 1<<20), workflow.WithDeadLetterLimits(0, 1<<20))
	return nc, testenv.JetStream(t, nc)
}

// fillStore publishes to a stream of its own until the store refuses more.
func fillStore(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	fill, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "FILL", Subjects: []string{"fill.>"}})
	if err != nil {
		return nil, err
	}
	chunk := make([]byte, 256*1024)
	for range 1000 {
		if _, err := js.Publish(ctx, "fill.x", chunk); err != nil {
			return fill, nil
		}
	}
	return nil, errors.New("the store never filled")
}

// A step whose result cannot be stored (the store filled while it ran)
// is not run again: its runner keeps the result and stores it once space
// is freed.
func TestStepResultWaitsForSpaceInsteadOfRunningAgain(t *testing.T) {
	var calls atomic.Int32
	var js jetstream.JetStream
	ctx := testenv.Context(t, 60*time.Second)
	freed := make(chan error, 1)
	filler := steps.New("FillsTheStore", func(sctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			fill, err := fillStore(ctx, js)
			if err != nil {
				freed <- err
				return 0, steps.NonRetryable("Fill", "%v", err)
			}
			time.AfterFunc(2500*time.Millisecond, func() { freed <- fill.Purge(ctx) })
		}
		return n * 2, nil
	})
	wf := workflow.New("FillsAndWaits", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, filler, n).Get(ctx)
	})
	nc, stream := smallStore(t, []workflow.Registrable{wf}, []steps.Handler{filler})
	js = stream
	run, err := workflow.Start(ctx, newClient(t, nc), wf, "fills-1", 21)
	if err != nil {
		t.Fatal(err)
	}
	got, err := run.Result(ctx)
	if ferr := <-freed; ferr != nil {
		t.Fatal(ferr)
	}
	if err != nil || got != 42 {
		t.Fatalf("got %d, %v; want 42", got, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the step ran %d times, want once: its result waited for space", n)
	}
}

// A full store: Start says which limit is reached, and a retry that came
// due while the store was full runs once space is freed, without a restart.
func TestFullStoreIsNamedAndDelayedWorkFiresAfterSpaceIsFreed(t *testing.T) {
	var calls atomic.Int32
	flaky := steps.New("FullFlaky", func(ctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			return 0, steps.NewError("Down", "first attempt fails")
		}
		return n, nil
	})
	wf := workflow.New("FullStore", func(ctx workflow.Context, n int) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{InitialInterval: time.Second}})
		return workflow.ExecuteStep(ctx, flaky, n).Get(ctx)
	})
	nc, js := smallStore(t, []workflow.Registrable{wf}, []steps.Handler{flaky})
	retrying := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("jetflow.status.FullStore.*.step_retrying", retrying)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	run, err := workflow.Start(ctx, c, wf, "full-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, retrying) // the retry is due in a second

	fill, err := fillStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	_, err = workflow.Start(ctx, c, wf, "full-2", 6)
	var full *wire.StoreFullError
	if !errors.Is(err, wire.ErrStoreFull) || !errors.As(err, &full) {
		t.Fatalf("Start on a full store: got %v, want a *StoreFullError", err)
	}
	t.Logf("Start on a full store: %v", err)
	time.Sleep(1500 * time.Millisecond) // the retry comes due while full

	if err := fill.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 5 {
		t.Fatalf("run whose retry came due while the store was full: got %d, %v; want 5", got, err)
	}
	run2, err := workflow.Start(ctx, c, wf, "full-2", 6)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run2.Result(ctx); err != nil || got != 6 {
		t.Fatalf("got %d, %v; want 6", got, err)
	}
	// Two attempts of the first run and one of the second: the repaired
	// retry did not run twice, and an attempt that ran before the store
	// filled (on a slow machine) kept its result until there was space.
	if n := calls.Load(); n != 3 {
		t.Fatalf("the step ran %d times, want 3", n)
	}
}
