package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/ui"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

var (
	echo = steps.New("Echo", func(ctx context.Context, s string) (string, error) { return s, nil })
	tiny = workflow.New("Tiny", func(ctx workflow.Context, s string) (string, error) {
		return workflow.ExecuteStep(ctx, echo, s).Get(ctx)
	})
)

// BenchmarkRunsPage times GET / (the runs list's first page, 50 runs of
// all) over 10,000 finished runs in memory storage ($JETFLOW_UI_RUNS for
// another count):
//
//	go test -run '^$' -bench RunsPage -benchtime 10x ./internal/ui/
func BenchmarkRunsPage(b *testing.B) {
	n := 10000
	if v := os.Getenv("JETFLOW_UI_RUNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("JETFLOW_UI_RUNS=%q: want a count", v)
		}
	}
	srv := testenv.StartBare(b, false)
	nc := srv.Conn()
	ctx := testenv.Context(b, 10*time.Minute)
	opts := []workflow.Option{workflow.WithMemoryStorage(), workflow.WithLogger(quiet)}
	w, err := workflow.NewWorker(ctx, nc, append(opts, workflow.WithWorkflowConcurrency(256), workflow.WithStepConcurrency(256))...)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.RegisterWorkflow(tiny); err != nil {
		b.Fatal(err)
	}
	if err := w.RegisterStep(echo); err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	b.Cleanup(func() { stop(); <-done })
	client, err := workflow.NewClient(ctx, nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	env, err := wire.Bind(ctx, nc, wire.Config{})
	if err != nil {
		b.Fatal(err)
	}

	t0 := time.Now()
	var wg sync.WaitGroup
	ids := make(chan string)
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for id := range ids {
				run, err := workflow.Start(ctx, client, tiny, id, id)
				if err == nil {
					_, err = run.Result(ctx)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("%s: %w", id, err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		ids <- fmt.Sprintf("run-%06d", i)
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("%d runs started and finished in %s", n, time.Since(t0).Round(time.Millisecond))

	s, err := ui.New(ui.Config{Client: client, Env: env, Log: quiet, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct{ name, path string }{
		{"all", "/"},
		{"filtered", "/?status=failed"},
		{"run", "/runs/run-000042"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d\n%s", tc.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
