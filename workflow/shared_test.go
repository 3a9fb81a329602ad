package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Settings every worker shares are the deployment's: a worker that does not
// set one takes the value in force; one that sets another is refused, naming
// both; Deploy changes it for the workers that start after.
func TestSharedSettingsAreTheDeployments(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 20*time.Second)
	newWorker := func(opts ...workflow.Option) (*workflow.Worker, error) {
		return workflow.NewWorker(ctx, nc, append([]workflow.Option{workflow.WithLogger(quiet)}, opts...)...)
	}
	first, err := newWorker(workflow.WithAckWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := workflow.AckWaitOf(first); got != 5*time.Second {
		t.Fatalf("first worker: ack wait %s, want 5s", got)
	}
	second, err := newWorker()
	if err != nil {
		t.Fatal(err)
	}
	if got := workflow.AckWaitOf(second); got != 5*time.Second {
		t.Fatalf("a worker without WithAckWait runs with %s, want the deployment's 5s", got)
	}
	_, err = newWorker(workflow.WithAckWait(time.Second))
	var conflict *workflow.SettingConflictError
	if !errors.Is(err, workflow.ErrSettingConflict) || !errors.As(err, &conflict) || conflict.Ours != "1s" || conflict.InForce != "5s" {
		t.Fatalf("a worker asking for another ack wait: got %v, want a *SettingConflictError naming 1s and 5s", err)
	}
	if !strings.Contains(err.Error(), "Deploy") {
		t.Errorf("the refusal does not say how to change it: %v", err)
	}
	if _, err := workflow.Deploy(context.Background(), nc, workflow.WithAckWait(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Storage cannot change in place: asking for memory on a deployment on
	// disk is refused too.
	if _, err := newWorker(workflow.WithMemoryStorage()); !errors.As(err, &conflict) || conflict.Ours != "memory" || conflict.InForce != "file" {
		t.Fatalf("a worker asking for memory storage on disk: got %v", err)
	}
	third, err := newWorker(workflow.WithAckWait(7 * time.Second))
	if err != nil {
		t.Fatalf("after Deploy changed it: %v", err)
	}
	if got := workflow.AckWaitOf(third); got != 7*time.Second {
		t.Fatalf("after Deploy: ack wait %s, want 7s", got)
	}
}
