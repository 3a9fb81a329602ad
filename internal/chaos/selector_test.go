package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSelectorChoiceSurvivesKill runs StepOrTimer — a step raced against a
// timer in a selector, then a step that acts on the choice — in a `jetflow
// worker` process, SIGKILLs that process while it runs the step that acts
// on its choice, once the loser has resolved too, and lets a second worker
// process finish the run. The survivor rebuilds the run from its history
// with both futures ready, so it must take the choice from the history:
// the output names the winner the killed worker chose, the choice step was
// decided once and had one effect, and the raced step and the timer were
// each delivered once. In the timer case the step is added to the selector
// first, so a replay that chose among ready futures by their order would
// choose the step.
func TestSelectorChoiceSurvivesKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   demo.StepOrTimerInput
		// loser is the event and position that say the other future
		// resolved too.
		loser    string
		loserSeq int
	}{
		{"step wins", demo.StepOrTimerInput{N: 7, StepDelay: 0, Timer: time.Second, ChoiceDelay: 3 * time.Second}, wire.EventTimerFired, 2},
		{"timer wins", demo.StepOrTimerInput{N: 7, StepDelay: time.Second, Timer: 100 * time.Millisecond, ChoiceDelay: 3 * time.Second}, wire.EventStepCompleted, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			killAtChoice(t, ctx, bin, filepath.Join(dir, strconv.Itoa(tc.loserSeq)), tc.in, tc.loser, tc.loserSeq)
		})
	}
}

func killAtChoice(t *testing.T, ctx context.Context, bin, dir string, in demo.StepOrTimerInput, loser string, loserSeq int) {
	const id, child, survivor = "race-1", "sel-child", "sel-survivor"
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := startProc(bin, "server", filepath.Join(dir, "server.log"), "server", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--data", filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop(10 * time.Second) })
	if _, err := srv.waitOutput(ctx, serverReady, readyTimeout); err != nil {
		t.Fatal(err)
	}
	worker := func(name string) *proc {
		t.Helper()
		p, err := startProc(bin, name, filepath.Join(dir, name+".log"), "worker", "--nats", url, "--name", name, "--exercise",
			"--ack-wait", "1s", "--drain-timeout", "0s", "--sweep-interval", "0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.stop(10 * time.Second) })
		if _, err := p.waitOutput(ctx, workerReady, readyTimeout); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := worker(child)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	events := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(wire.NewNames("jetflow").StatusFilter(demo.StepOrTimer.Name(), id), events)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	client, err := workflow.NewClient(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, client, demo.StepOrTimer, id, in)
	if err != nil {
		t.Fatal(err)
	}

	// The moment of choice: the killed worker runs the step that acts on
	// its choice (position 3), and the other future has resolved as well.
	acting, resolved := false, false
	for !acting || !resolved {
		select {
		case m := <-events:
			var ev wire.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("event %q: %v", m.Data, err)
			}
			acting = acting || ev.Event == wire.EventStepStarted && ev.Seq == 3 && ev.Worker == child
			resolved = resolved || ev.Event == loser && ev.Seq == loserSeq
		case <-first.done:
			t.Fatalf("%s exited before the kill: %v\n%s", child, first.err, first.tail(20))
		case <-ctx.Done():
			t.Fatalf("waiting for the moment of choice (choice step started: %v, %s of position %d: %v)", acting, loser, loserSeq, resolved)
		}
	}
	first.kill()

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kv.Get[kv.Run](ctx, b.Runs, id)
	if err != nil {
		t.Fatal(err)
	}
	ek := kv.ExecKey(id, rec.Inc, 1)
	before := readBatches(t, ctx, b.Steps, ek)
	chose := firstDelivered(before)
	if chose == "" {
		t.Fatalf("the killed worker's history delivers neither the step nor the timer: %+v", before)
	}
	if decidedAt(before, 3) != 1 {
		t.Fatalf("the killed worker's history decides position 3 %d times, want once: %+v", decidedAt(before, 3), before)
	}
	t.Logf("%s chose the %s and was killed while acting on it, with %d history batches", child, chose, len(before))

	worker(survivor)
	out, err := run.Result(ctx)
	if err != nil {
		t.Fatalf("result after the kill: %v", err)
	}
	code := map[string]int{demo.WinnerStep: demo.ChoseStep, demo.WinnerTimer: demo.ChoseTimer}[chose]
	if want := (demo.StepOrTimerOutput{Winner: chose, Chosen: code, Counted: in.N}); out != want {
		t.Errorf("output after the kill: got %+v, want %+v (the choice %s made)", out, want, child)
	}

	after := readBatches(t, ctx, b.Steps, ek)
	if got := firstDelivered(after); got != chose {
		t.Errorf("history after the kill delivers the %s first, want the %s", got, chose)
	}
	if n := decidedAt(after, 3); n != 1 {
		t.Errorf("position 3 decided %d times in the history, want once", n)
	}
	delivered := map[int]int{}
	for _, bt := range after {
		for _, seq := range bt.Deliveries {
			delivered[seq]++
		}
	}
	for _, seq := range []int{1, 2, 3} {
		if delivered[seq] != 1 {
			t.Errorf("position %d delivered %d times, want once (deliveries %v)", seq, delivered[seq], delivered)
		}
	}
	if last := after[len(after)-1]; last.Closing == nil || last.Worker != survivor {
		t.Errorf("last history batch: closing %v by %q, want the run closed by %s", last.Closing, last.Worker, survivor)
	}

	ledger, err := demo.OpenKVLedger(ctx, js, ledgerBucket)
	if err != nil {
		t.Fatal(err)
	}
	effects, err := ledger.Effects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counted := map[int]int{}
	for _, e := range effects {
		if e.Run == id {
			counted[int(e.Amount)]++
		}
	}
	if want := map[int]int{in.N: 1, code: 1}; fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Errorf("effects by value: got %v, want %v (the raced step and the choice, once each)", counted, want)
	}
}

// readBatches reads an execution's history batches in order.
func readBatches(t *testing.T, ctx context.Context, steps jetstream.KeyValue, execKey string) []kv.Batch {
	t.Helper()
	out, err := historyBatches(ctx, steps, execKey)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
