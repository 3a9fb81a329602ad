package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// `jetflow history` names a plain Go error "Error" (a named one after its
// type), and prints the type once and the message once.
func TestCLIHistoryNamesAPlainErrorOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	boom := steps.New("Boom", func(ctx context.Context, _ struct{}) (int, error) { return 0, errors.New("boom") })
	wf := workflow.New("Booms", func(ctx workflow.Context, _ struct{}) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{MaxAttempts: 1}})
		return workflow.ExecuteStep(ctx, boom, struct{}{}).Get(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterWorkflow(wf); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterStep(boom); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })
	c, err := workflow.NewClient(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, c, wf, "booms-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err == nil {
		t.Fatal("want the run failed")
	}
	out, errOut, code := cli(t, 20*time.Second, "history", "booms-1", "--nats", url)
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 +Boom +1 .* failed: Error: boom \(attempts exhausted\) `),
		regexp.MustCompile(`(?m)^error: Error: jetflow: step Boom failed after 1 attempt\(s\) \(attempts exhausted\): boom$`),
	} {
		if !re.MatchString(out) {
			t.Errorf("history lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "errorString") || strings.Count(out, "Error: ") != 2 {
		t.Errorf("history names the error by its Go type or repeats it:\n%s", out)
	}
}
