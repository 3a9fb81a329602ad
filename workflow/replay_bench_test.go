package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
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

// BenchmarkReplay rebuilds a run from its history, as a worker does on a
// cache miss (a restart, an eviction, a task that reached a worker that does
// not hold the run): ns/op is one full replay of a run with that many
// completed steps, history already read (no NATS round trip is counted).
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{5, 50, 500, 5000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			w := &Worker{log: slog.New(slog.DiscardHandler), env: &wire.Env{MaxPayload: 1 << 20}}
			input, err := kv.Marshal(n)
			if err != nil {
				b.Fatal(err)
			}
			run := kv.Run{ID: "bench-1", Workflow: benchChain.Name(), Status: kv.StatusRunning, Input: input, CreatedAt: time.Now(), Format: kv.FormatHistory}
			h := &history{results: map[int]*kv.Result{}}
			for seq := 1; seq <= n+1; seq++ {
				bt := kv.Batch{N: seq}
				if seq > 1 {
					bt.Deliveries = []int{seq - 1}
				}
				if seq <= n {
					bt.Decisions = []kv.Decision{{Seq: seq, Kind: kv.KindStep, Name: benchIncr.Name()}}
					out, err := kv.Marshal(seq)
					if err != nil {
						b.Fatal(err)
					}
					h.results[seq] = &kv.Result{Kind: kv.KindStep, Name: benchIncr.Name(), Output: out, Attempts: 1, CompletedAt: run.CreatedAt}
				}
				h.batches = append(h.batches, bt)
			}
			b.ReportAllocs()
			for b.Loop() {
				x := newExecution(w, benchChain, run)
				if err := x.replayHistory(h); err != nil {
					b.Fatal(err)
				}
				if !x.done || x.err != nil || x.fatal != nil {
					b.Fatalf("replay: done %v, err %v, fatal %v", x.done, x.err, x.fatal)
				}
				var got int
				if err := kv.Unmarshal(x.out, &got); err != nil || got != n {
					b.Fatalf("replay output %d (%v), want %d", got, err, n)
				}
			}
		})
	}
}
