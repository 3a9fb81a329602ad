package workflow_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// One client waits for many runs at once on one shared listener for closing
// events (not a subscription per wait), and stops listening once it has
// waited for nothing a while.
func TestWaitsShareOneListener(t *testing.T) {
	defer workflow.SetCloseWatchIdle(300 * time.Millisecond)()
	srv := testenv.Start(t, false)
	startWorker(t, srv.Conn(), []workflow.Registrable{picky}, []steps.Handler{addOne})
	cnc := srv.Conn()
	c := newClient(t, cnc)
	ctx := testenv.Context(t, 30*time.Second)
	before := cnc.NumSubscriptions()
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	waiting := 0
	errs := make(chan error, n)
	for i := range n {
		// Each run waits for a word, so every wait is pending at once.
		run, err := workflow.Start(ctx, c, picky, fmt.Sprintf("share-%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			waiting++
			mu.Unlock()
			got, err := run.Result(ctx)
			if err == nil && got != 2+i%3 {
				err = fmt.Errorf("run %d: got %d, want %d", i, got, 2+i%3)
			}
			errs <- err
		}()
	}
	for {
		mu.Lock()
		w := waiting
		mu.Unlock()
		if w == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // every wait has read the record and listens
	if got := cnc.NumSubscriptions() - before; got != 5 {
		t.Fatalf("%d subscriptions while waiting for %d runs, want one per closing event (5)", got, n)
	}
	for i := range n {
		if err := workflow.Signal(ctx, c, fmt.Sprintf("share-%d", i), word, "ab"+"cd"[:i%3]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for cnc.NumSubscriptions() != before {
		if time.Now().After(deadline) {
			t.Fatalf("still %d subscriptions after the waits ended, want %d", cnc.NumSubscriptions(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A wait after the listener stopped listens again.
	run, err := workflow.Start(ctx, c, picky, "share-again", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 2 {
		t.Fatalf("got %d, %v; want 2", got, err)
	}
}
