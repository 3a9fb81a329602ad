package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// picky fails on a negative input, waits for a word on 0 (and on 1000 or
// more, which it adds to the word's length), and adds one to anything else.
var picky = workflow.New("Picky", func(ctx workflow.Context, n int) (int, error) {
	switch {
	case n < 0:
		return 0, errors.New("negative")
	case n == 0:
		w, err := word.Receive(ctx)
		return len(w), err
	case n >= 1000:
		// Held open until a word comes (racing starts).
		w, err := word.Receive(ctx)
		return n + len(w), err
	}
	return workflow.ExecuteStep(ctx, addOne, n).Get(ctx)
})

var tally = workflow.New("Tally", func(ctx workflow.Context, m map[string]int) (int, error) {
	sum := 0
	for _, v := range m {
		sum += v
	}
	return sum, nil
})

func wantAlreadyStarted(t *testing.T, err error, workflowName string, closed, differs bool) {
	t.Helper()
	var ae *workflow.AlreadyStartedError
	if !errors.Is(err, workflow.ErrAlreadyStarted) || !errors.As(err, &ae) {
		t.Fatalf("got %v, want an *AlreadyStartedError", err)
	}
	if ae.Workflow != workflowName || kv.Terminal(ae.Status) != closed || ae.InputDiffers != differs {
		t.Fatalf("got %+v, want a run of %s, closed %v, input differs %v", ae, workflowName, closed, differs)
	}
}

func TestStartIDReuse(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps, picky, tally}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	result := func(id string) (int, error) { return workflow.Attach(c, picky, id).Result(ctx) }

	t.Run("open run", func(t *testing.T) {
		if _, err := workflow.Start(ctx, c, picky, "open-1", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := workflow.Start(ctx, c, picky, "open-1", 0); err != nil {
			t.Fatalf("same input: got %v, want the run", err)
		}
		_, err := workflow.Start(ctx, c, picky, "open-1", 7)
		wantAlreadyStarted(t, err, "Picky", false, true)
		_, err = workflow.Start(ctx, c, picky, "open-1", 7, workflow.WithIDReusePolicy(workflow.AllowDuplicate))
		wantAlreadyStarted(t, err, "Picky", false, true)
		_, err = workflow.Start(ctx, c, fiveSteps, "open-1", 0)
		wantAlreadyStarted(t, err, "Picky", false, false)
	})

	t.Run("completed run", func(t *testing.T) {
		run, err := workflow.Start(ctx, c, picky, "done-1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := run.Result(ctx); err != nil || got != 11 {
			t.Fatalf("got %d, %v", got, err)
		}
		if _, err := workflow.Start(ctx, c, picky, "done-1", 10); err != nil {
			t.Fatalf("same input: got %v, want the run", err)
		}
		_, err = workflow.Start(ctx, c, picky, "done-1", 20)
		wantAlreadyStarted(t, err, "Picky", true, true)
		_, err = workflow.Start(ctx, c, picky, "done-1", 20, workflow.WithIDReusePolicy(workflow.AllowDuplicateFailedOnly))
		wantAlreadyStarted(t, err, "Picky", true, true)
		if _, err := workflow.Start(ctx, c, picky, "done-1", 20, workflow.WithIDReusePolicy(workflow.AllowDuplicate)); err != nil {
			t.Fatalf("AllowDuplicate: %v", err)
		}
		if got, err := result("done-1"); err != nil || got != 21 {
			t.Fatalf("the new run: got %d, %v; want 21", got, err)
		}
		// The ID shows the new run only.
		if h, err := c.History(ctx, "done-1"); err != nil || len(h) != 1 {
			t.Fatalf("history: got %d entries, %v; want the new run's 1", len(h), err)
		}
	})

	t.Run("failed run", func(t *testing.T) {
		if _, err := workflow.Start(ctx, c, picky, "failed-1", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := result("failed-1"); !errors.As(err, new(*workflow.RunError)) {
			t.Fatalf("got %v, want the run failed", err)
		}
		first, err := c.Describe(ctx, "failed-1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = workflow.Start(ctx, c, picky, "failed-1", 5)
		wantAlreadyStarted(t, err, "Picky", true, true)
		// FailedOnly retries a failed run, with the same input too.
		if _, err := workflow.Start(ctx, c, picky, "failed-1", -1, workflow.WithIDReusePolicy(workflow.AllowDuplicateFailedOnly)); err != nil {
			t.Fatal(err)
		}
		if _, err := result("failed-1"); !errors.As(err, new(*workflow.RunError)) {
			t.Fatalf("got %v, want the retry failed too", err)
		}
		if d, err := c.Describe(ctx, "failed-1"); err != nil || !d.CreatedAt.After(first.CreatedAt) {
			t.Fatalf("got %+v, %v; want a run created after the first", d, err)
		}
		if _, err := workflow.Start(ctx, c, picky, "failed-1", 5, workflow.WithIDReusePolicy(workflow.AllowDuplicateFailedOnly)); err != nil {
			t.Fatal(err)
		}
		if got, err := result("failed-1"); err != nil || got != 6 {
			t.Fatalf("the new run: got %d, %v; want 6", got, err)
		}
	})

	t.Run("map input", func(t *testing.T) {
		m := map[string]int{}
		for i := range 40 {
			m[fmt.Sprintf("k%02d", i)] = i
		}
		for range 3 {
			if _, err := workflow.Start(ctx, c, tally, "tally-1", m); err != nil {
				t.Fatalf("the same map again: %v", err)
			}
		}
		if _, err := workflow.Attach(c, tally, "tally-1").Result(ctx); err != nil {
			t.Fatal(err)
		}
		m["k00"] = 100
		_, err := workflow.Start(ctx, c, tally, "tally-1", m)
		wantAlreadyStarted(t, err, "Tally", true, true)
	})

	t.Run("racing starts", func(t *testing.T) {
		if _, err := workflow.Start(ctx, c, picky, "race-1", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := result("race-1"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				// Held open, so that a Start that comes after the winner
				// finds it open, not closed and free to take again.
				_, errs[i] = workflow.Start(ctx, c, picky, "race-1", 1000+i, workflow.WithIDReusePolicy(workflow.AllowDuplicate))
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case err == nil:
				t.Fatalf("Starts %d and %d both started a run", won, i)
			case !errors.Is(err, workflow.ErrAlreadyStarted):
				t.Fatalf("Start %d: %v", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no Start started a run")
		}
		if err := workflow.Signal(ctx, c, "race-1", word, "x"); err != nil {
			t.Fatal(err)
		}
		if got, err := result("race-1"); err != nil || got != 1001+won {
			t.Fatalf("got %d, %v; want %d", got, err, 1001+won)
		}
	})

	if _, err := workflow.Start(ctx, c, picky, "x", 1, workflow.WithIDReusePolicy(7)); !errors.Is(err, workflow.ErrInvalidOption) {
		t.Fatalf("an unknown policy: got %v, want ErrInvalidOption", err)
	}
}

func keyCount(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	ctx := testenv.Context(t, 5*time.Second)
	st, err := js.Stream(ctx, "KV_jetflow_steps")
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

func incOf(t *testing.T, b *kv.Buckets, id string) string {
	t.Helper()
	run, _, err := kv.Get[kv.Run](testenv.Context(t, 5*time.Second), b.Runs, id)
	if err != nil {
		t.Fatal(err)
	}
	return run.Inc
}

// The retention of a closed run whose ID a new run took removes the closed
// run's keys and nothing of the new run.
func TestReusedIDPurgesOnlyTheClosedRun(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	startWorker(t, nc, []workflow.Registrable{picky}, []steps.Handler{addOne}, workflow.WithRetention(time.Second))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Start(ctx, c, picky, "reuse-1", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Attach(c, picky, "reuse-1").Result(ctx); err == nil {
		t.Fatal("want the run failed")
	}
	old := incOf(t, b, "reuse-1")
	if n := keyCount(t, js, "$KV.jetflow_steps.reuse-1."+old+".>"); n == 0 {
		t.Fatal("the failed run left no history")
	}
	// The new run waits for a word, so it stays open while the old run's
	// retention passes.
	if _, err := workflow.Start(ctx, c, picky, "reuse-1", 0, workflow.WithIDReusePolicy(workflow.AllowDuplicateFailedOnly)); err != nil {
		t.Fatal(err)
	}
	inc := incOf(t, b, "reuse-1")
	for keyCount(t, js, "$KV.jetflow_steps.reuse-1."+inc+".>") == 0 {
		if ctx.Err() != nil {
			t.Fatal("the new run never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for keyCount(t, js, "$KV.jetflow_steps.reuse-1."+old+".>") > 0 {
		if ctx.Err() != nil {
			t.Fatal("the closed run's keys were not purged after its retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d, err := c.Describe(ctx, "reuse-1"); err != nil || d.Status != "running" {
		t.Fatalf("the new run: got %+v, %v; want it running", d, err)
	}
	if n := keyCount(t, js, "$KV.jetflow_steps.reuse-1."+inc+".>"); n == 0 {
		t.Fatal("the new run's keys were purged with the old run's")
	}
	// The new run, once closed, is purged after its own retention.
	if err := workflow.Signal(ctx, c, "reuse-1", word, "done"); err != nil {
		t.Fatal(err)
	}
	if got, err := workflow.Attach(c, picky, "reuse-1").Result(ctx); err != nil || got != 4 {
		t.Fatalf("got %d, %v; want 4", got, err)
	}
	for {
		if _, err := c.Describe(ctx, "reuse-1"); errors.Is(err, workflow.ErrNotFound) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the new run was not purged after its retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := keyCount(t, js, "$KV.jetflow_steps.reuse-1.>"); n != 0 {
		t.Fatalf("after both retentions: %d keys left", n)
	}
}

// A purge published by an older worker names no incarnation: when it comes
// for a run that closed too recently to be its own (the ID was reused), it
// is put off to the run's own retention instead of purging it early.
func TestOlderPurgeSparesAReusedID(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	startWorker(t, nc, []workflow.Registrable{picky}, []steps.Handler{addOne}, workflow.WithRetention(time.Hour))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := workflow.Start(ctx, c, picky, "legacy-1", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Attach(c, picky, "legacy-1").Result(ctx); err == nil {
		t.Fatal("want the run failed")
	}
	if _, err := workflow.Start(ctx, c, picky, "legacy-1", 1, workflow.WithIDReusePolicy(workflow.AllowDuplicateFailedOnly)); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Attach(c, picky, "legacy-1").Result(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := js.Stream(ctx, "JETFLOW_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	sched := wire.NewNames("jetflow").ScheduleSubject(kv.ExecKey("legacy-1", incOf(t, b, "legacy-1"), 0), 0, 0)
	last := func() uint64 {
		m, err := tasks.GetLastMsgForSubject(ctx, sched)
		if err != nil {
			t.Fatalf("the run's purge schedule: %v", err)
		}
		return m.Sequence
	}
	before := last()
	data, _ := kv.Marshal(wire.WorkflowTask{WorkflowID: "legacy-1", Workflow: "Picky", Reason: wire.ReasonPurge})
	if _, err := js.Publish(ctx, "jetflow.wf.Picky", data); err != nil {
		t.Fatal(err)
	}
	for last() == before {
		if ctx.Err() != nil {
			t.Fatal("the older purge was not put off to the run's retention")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d, err := c.Describe(ctx, "legacy-1"); err != nil || d.Status != "completed" {
		t.Fatalf("got %+v, %v; want the new run kept", d, err)
	}
}

// A run that takes a closed run's ID gives its steps idempotency keys of its
// own: a service deduplicating on them must not return the old run's effect
// for the new input.
func TestReusedIDGetsItsOwnIdempotencyKeys(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	keys := make(chan string, 4)
	keyed := steps.New("Keyed", func(ctx context.Context, n int) (int, error) {
		keys <- steps.IdempotencyKey(ctx)
		return n, nil
	})
	once := workflow.New("KeyedOnce", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, keyed, n).Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{once}, []steps.Handler{keyed})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	var got []string
	for i, opts := range [][]workflow.StartOption{nil, {workflow.WithIDReusePolicy(workflow.AllowDuplicate)}, {workflow.WithIDReusePolicy(workflow.AllowDuplicate)}} {
		run, err := workflow.Start(ctx, c, once, "keyed-1", i, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.Result(ctx); err != nil {
			t.Fatal(err)
		}
		got = append(got, <-keys)
	}
	if want := []string{"keyed-1/1", "keyed-1~1/1", "keyed-1~2/1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("idempotency keys %v, want %v", got, want)
	}
}
