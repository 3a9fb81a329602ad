package workerapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
)

var whisper = steps.New("AppTestWhisper", func(_ context.Context, s string) (string, error) {
	return strings.ToLower(s), nil
})

// greet as changed without a version: a step before the shout.
var greetChanged = workflow.New("AppTestGreet", func(ctx workflow.Context, in greetInput) (string, error) {
	s, err := workflow.ExecuteStep(ctx, whisper, "hello, "+in.Name).Get(ctx)
	if err != nil {
		return "", err
	}
	return workflow.ExecuteStep(ctx, shout, s).Get(ctx)
})

// The replay command replays saved histories offline: a history of the
// code as it is replays, the same history against a breaking change fails
// naming the position, and a history of a workflow the binary does not
// register is an error too.
func TestReplayCommandChecksSavedHistories(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 20*time.Second)
	w, err := workflow.NewWorker(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterWorkflow(greet); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterStep(shout); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()
	c, err := workflow.NewClient(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, c, greet, "greet-saved", greetInput{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := c.ExportHistory(ctx, "greet-saved")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	saved := filepath.Join(dir, "greet-saved.json")
	data, err := json.Marshal(map[string]any{"id": "greet-saved", "replay": h}) // as history --json writes it
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, data, 0o600); err != nil {
		t.Fatal(err)
	}

	replay := func(def workflow.Registrable, args ...string) (string, error) {
		app := workerapp.New("test-worker")
		var out bytes.Buffer
		app.SetOutput(&out)
		app.Register(def)
		err := app.Run(ctx, append([]string{"replay"}, args...))
		return out.String(), err
	}
	if out, err := replay(greet, saved); err != nil || !strings.Contains(out, "ok    "+saved) {
		t.Fatalf("the code that made it: %v\n%s", err, out)
	}
	out, err := replay(greetChanged, saved)
	if !errors.Is(err, workerapp.ErrReplayFailed) || !strings.Contains(out, "FAIL  "+saved) || !strings.Contains(out, "at position 1 the history has step AppTestShout but the code asked for step AppTestWhisper") {
		t.Fatalf("a breaking change: %v\n%s", err, out)
	}
	other := workflow.New("AppTestOther", func(ctx workflow.Context, in greetInput) (string, error) { return "", nil })
	if out, err := replay(other, saved); !errors.Is(err, workerapp.ErrReplayFailed) || !strings.Contains(out, "not registered in this binary") {
		t.Fatalf("an unregistered workflow: %v\n%s", err, out)
	}
	if out, err := replay(greet, "--workflow", "AppTestOther", saved); !errors.Is(err, workerapp.ErrReplayFailed) || !strings.Contains(out, "not AppTestOther") {
		t.Fatalf("--workflow of another: %v\n%s", err, out)
	}
	if _, err := replay(greet); !errors.Is(err, workerapp.ErrUsage) {
		t.Fatalf("no file: %v; want a usage error", err)
	}
}
