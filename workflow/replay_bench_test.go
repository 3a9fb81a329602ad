package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

var benchIncr = steps.New("Incr", func(_ context.Context, n int) (int, error) { return n + 1, nil })

var benchChain = New("Chain", func(ctx Context, n int) (int, error) {
	x := 0
	for range n {
		var err error
		if x, err = ExecuteStep(ctx, benchIncr, x).Get(ctx); err != nil {
			return 0, err
		}
	}
	return x, nil
})

// BenchmarkReplay re-executes a run's code over its recorded results, as
// every workflow task does before it decides: ns/op is one full replay of a
// run with that many completed steps (results already in the worker's cache,
// so no NATS round trip is counted).
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{5, 50, 500} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			w := &Worker{log: slog.New(slog.DiscardHandler), cache: newResultCache(n + 1)}
			input, err := kv.Marshal(n)
			if err != nil {
				b.Fatal(err)
			}
			run := kv.Run{ID: "bench-1", Workflow: benchChain.Name(), Status: kv.StatusRunning, Input: input, CreatedAt: time.Now()}
			for seq := 1; seq <= n; seq++ {
				out, err := kv.Marshal(seq)
				if err != nil {
					b.Fatal(err)
				}
				run.Commands = append(run.Commands, kv.Command{Seq: seq, Kind: kv.KindStep, Name: benchIncr.Name()})
				w.cache.put(kv.StepKey(run.ID, seq), &kv.Result{Kind: kv.KindStep, Name: benchIncr.Name(), Output: out, Attempts: 1, CompletedAt: run.CreatedAt})
			}
			b.ReportAllocs()
			for b.Loop() {
				e := newExecution(context.Background(), w, &run)
				done, out, err := e.execute(benchChain)
				if !done || err != nil || e.fatal != nil || len(e.newSteps) != 0 {
					b.Fatalf("replay: done %v, err %v, fatal %v, %d new steps", done, err, e.fatal, len(e.newSteps))
				}
				var got int
				if err := kv.Unmarshal(out, &got); err != nil || got != n {
					b.Fatalf("replay output %d (%v), want %d", got, err, n)
				}
			}
		})
	}
}
