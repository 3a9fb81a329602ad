package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/runner"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// BenchmarkDispatch is the engine's step path on a real embedded JetStream,
// with 100 tasks in flight: a step task is published on its subject (with
// its dedupe ID), fetched by the runner's durable pull consumer, handled by a
// no-op step, its result created in the steps bucket, and the message acked.
// ns/op is the wall time per step; the workflow side is left out (the
// runner's local-wake hook just counts).
func BenchmarkDispatch(b *testing.B) {
	srv := testenv.Start(b, false)
	nc := srv.Conn()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := wire.Setup(ctx, nc, wire.Config{})
	if err != nil {
		b.Fatal(err)
	}
	noop := steps.New("Noop", func(_ context.Context, n int) (int, error) { return n, nil })
	r := runner.NewRunner(env, runner.RunnerConfig{Worker: "bench", Concurrency: 64, Logger: slog.New(slog.DiscardHandler)})
	if err := r.Register(noop); err != nil {
		b.Fatal(err)
	}
	const inflight = 100
	slots := make(chan struct{}, inflight)
	r.Hooks.WakeLocal = func(context.Context, *runner.Task, *kv.Result) bool {
		<-slots
		return true
	}
	// The tasks stand for ones this process's worker issued (no run and
	// history behind them): the runner trusts its own worker's copy.
	var issued sync.Map
	r.Hooks.Issued = func(key string) *runner.Task {
		if t, ok := issued.Load(key); ok {
			return t.(*runner.Task)
		}
		return nil
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, ctx) }()
	defer func() { cancel(); <-done }()
	input, err := kv.Marshal(1)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		slots <- struct{}{}
		id := fmt.Sprintf("d-%d", i)
		task := runner.NewTask("Bench", id, noop.Name(), 1, input, steps.Options{}, now)
		issued.Store(task.ResultKey(), &task)
		data, err := kv.Marshal(task)
		if err != nil {
			b.Fatal(err)
		}
		if err := env.Publish(ctx, env.Names.StepSubject(noop.Name()), wire.MsgID(id, 1, 1, "step"), data); err != nil {
			b.Fatal(err)
		}
	}
	for range inflight {
		slots <- struct{}{}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}
