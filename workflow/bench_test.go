package workflow_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// BenchmarkFiveStepLatency runs one 5-step workflow at a time: ns/op is the
// start-to-result latency on the embedded server (file storage, default sync).
func BenchmarkFiveStepLatency(b *testing.B) {
	srv := testenv.Start(b, false)
	nc := srv.Conn()
	benchWorker(b, nc)
	c, err := workflow.NewClient(context.Background(), nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		run, err := workflow.Start(ctx, c, fiveSteps, fmt.Sprintf("lat-%d", i), 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := run.Result(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkFiveStepThroughput keeps 100 workflows in flight; it reports
// workflows per second.
func BenchmarkFiveStepThroughput(b *testing.B) {
	srv := testenv.Start(b, false)
	nc := srv.Conn()
	benchWorker(b, nc)
	c, err := workflow.NewClient(context.Background(), nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const inflight = 100
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	t0 := time.Now()
	ops0 := nc.Stats().OutMsgs
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s := time.Now()
			run, err := workflow.Start(ctx, c, fiveSteps, fmt.Sprintf("tp-%d", i), 0)
			if err == nil {
				_, err = run.Result(ctx)
			}
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(s))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "workflows/s")
	b.ReportMetric(float64(nc.Stats().OutMsgs-ops0)/float64(b.N), "nats-ops/wf")
	reportPercentiles(b, lat)
}

func benchWorker(b *testing.B, nc *nats.Conn) {
	w, err := workflow.NewWorker(context.Background(), nc, workflow.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	if err := w.RegisterWorkflow(fiveSteps); err != nil {
		b.Fatal(err)
	}
	if err := w.RegisterStep(addOne); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

var _ = steps.Options{}
