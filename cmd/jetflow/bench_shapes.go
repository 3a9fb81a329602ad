package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// The shapes of `jetflow bench --shape`: how the per-step cost holds up as a
// single workflow grows long (sequential) or wide (fan-out).
var (
	benchTick = steps.New("BenchTick", func(ctx context.Context, n int) (int, error) { return n + 1, nil })
	// benchSequential runs n steps one after the other.
	benchSequential = workflow.New("BenchSequential", func(ctx workflow.Context, n int) (int, error) {
		x := 0
		for i := 0; i < n; i++ {
			var err error
			if x, err = workflow.ExecuteStep(ctx, benchTick, x).Get(ctx); err != nil {
				return 0, err
			}
		}
		return x, nil
	})
	// benchFanOut starts n steps at once and then waits for all of them.
	benchFanOut = workflow.New("BenchFanOut", func(ctx workflow.Context, n int) (int, error) {
		fs := make([]workflow.Future[int], n)
		for i := range fs {
			fs[i] = workflow.ExecuteStep(ctx, benchTick, i)
		}
		sum := 0
		for _, f := range fs {
			v, err := f.Get(ctx)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	})
)

type shapeReport struct {
	Shape string `json:"shape"`
	Steps int    `json:"steps"`
	// Sequential: the long workflow against a 100-step one. Fan-out: one
	// workflow of Steps parallel steps against Steps one-step workflows.
	Seconds         float64 `json:"seconds"`
	StepsPerSec     float64 `json:"steps_per_sec"`
	MsPerStep       float64 `json:"ms_per_step"`
	BaseSeconds     float64 `json:"base_seconds"`
	BaseStepsPerSec float64 `json:"base_steps_per_sec"`
	BaseMsPerStep   float64 `json:"base_ms_per_step"`
	Ratio           float64 `json:"ratio"`
	// AfterMsPerStep is the short workflow again, after the long one: the
	// same store, so it tells the cost of the run's length from the cost of
	// the store's size.
	AfterMsPerStep   float64 `json:"after_ms_per_step,omitempty"`
	Conflicts        int64   `json:"conflicts"`
	WorkflowTasks    int64   `json:"workflow_tasks"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	BaseDescription  string  `json:"base"`
	ShapeDescription string  `json:"measured"`
}

// runShape measures one shape with the worker already running.
func runShape(ctx context.Context, c *workflow.Client, shape string, n, conc int, tasks, conflicts func() int64, asJSON bool) error {
	r := shapeReport{Shape: shape, Steps: n}
	stamp := time.Now().UnixNano()
	run := func(def *workflow.Definition[int, int], id string, in, want int) (time.Duration, error) {
		t0 := time.Now()
		h, err := workflow.Start(ctx, c, def, id, in)
		if err != nil {
			return 0, err
		}
		got, err := h.Result(ctx)
		if err != nil {
			return 0, err
		}
		if got != want {
			return 0, fmt.Errorf("%s: got %d, want %d", id, got, want)
		}
		return time.Since(t0), nil
	}
	t0, c0 := tasks(), conflicts()
	switch shape {
	case "sequential":
		base := 100
		d0, err := run(benchSequential, fmt.Sprintf("seq-base-%d", stamp), base, base)
		if err != nil {
			return err
		}
		d1, err := run(benchSequential, fmt.Sprintf("seq-%d", stamp), n, n)
		if err != nil {
			return err
		}
		d2, err := run(benchSequential, fmt.Sprintf("seq-after-%d", stamp), base, base)
		if err != nil {
			return err
		}
		r.AfterMsPerStep = ms(d2) / float64(base)
		r.BaseDescription = fmt.Sprintf("one workflow of %d sequential steps", base)
		r.ShapeDescription = fmt.Sprintf("one workflow of %d sequential steps", n)
		r.BaseSeconds, r.BaseStepsPerSec, r.BaseMsPerStep = d0.Seconds(), float64(base)/d0.Seconds(), ms(d0)/float64(base)
		r.Seconds, r.StepsPerSec, r.MsPerStep = d1.Seconds(), float64(n)/d1.Seconds(), ms(d1)/float64(n)
		r.Ratio = r.MsPerStep / r.BaseMsPerStep
	case "fanout":
		d1, err := run(benchFanOut, fmt.Sprintf("fan-%d", stamp), n, n*(n+1)/2)
		if err != nil {
			return err
		}
		t1 := time.Now()
		sem := make(chan struct{}, conc)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := run(benchSequential, fmt.Sprintf("one-%d-%d", stamp, i), 1, 1); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		d0 := time.Since(t1)
		r.BaseDescription = fmt.Sprintf("%d one-step workflows, concurrency %d", n, conc)
		r.ShapeDescription = fmt.Sprintf("one workflow starting %d steps, then waiting for all", n)
		r.BaseSeconds, r.BaseStepsPerSec, r.BaseMsPerStep = d0.Seconds(), float64(n)/d0.Seconds(), ms(d0)/float64(n)
		r.Seconds, r.StepsPerSec, r.MsPerStep = d1.Seconds(), float64(n)/d1.Seconds(), ms(d1)/float64(n)
		r.Ratio = r.StepsPerSec / r.BaseStepsPerSec
	default:
		return usagef("--shape must be saga, sequential, fanout or schedule, not %q", shape)
	}
	r.WorkflowTasks, r.Conflicts = tasks()-t0, conflicts()-c0
	r.PeakRSSMiB = peakRSSMiB()
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("jetflow bench --shape %s --steps %d\n", shape, n)
	fmt.Printf("  %-55s %8.2f s  %8.1f steps/s  %6.3f ms/step\n", r.ShapeDescription, r.Seconds, r.StepsPerSec, r.MsPerStep)
	fmt.Printf("  %-55s %8.2f s  %8.1f steps/s  %6.3f ms/step\n", r.BaseDescription, r.BaseSeconds, r.BaseStepsPerSec, r.BaseMsPerStep)
	if shape == "sequential" {
		fmt.Printf("  the %d-step workflow again, after the long one: %.3f ms/step\n", 100, r.AfterMsPerStep)
		fmt.Printf("  per-step time, long ÷ short   %.2f×\n", r.Ratio)
	} else {
		fmt.Printf("  steps/s, fan-out ÷ one-step workflows   %.2f\n", r.Ratio)
	}
	fmt.Printf("  workflow tasks %d, history conflicts %d, peak RSS %.1f MiB\n", r.WorkflowTasks, r.Conflicts, r.PeakRSSMiB)
	return nil
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}
