package workflow_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// A client creates nothing: against a server where no worker ran it says
// the deployment is missing, and once a bucket is deleted under it, a read
// says so too instead of "no run" (and nothing re-creates the bucket).
func TestClientNeedsADeployment(t *testing.T) {
	srv := testenv.StartBare(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 20*time.Second)
	_, err := workflow.NewClient(ctx, nc)
	var nd *workflow.NotDeployedError
	if !errors.Is(err, workflow.ErrNotDeployed) || !errors.As(err, &nd) || nd.Name != "JETFLOW_TASKS" {
		t.Fatalf("NewClient on an empty server: got %v, want a *NotDeployedError naming JETFLOW_TASKS", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "JETFLOW_TASKS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("task stream after NewClient: got %v, want not created", err)
	}

	changes, err := workflow.Deploy(ctx, nc)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(changes) != 6 {
		t.Errorf("Deploy: got %d changes, want 6 (3 streams, 3 buckets): %+v", len(changes), changes)
	}
	for _, c := range changes {
		if c.Action != "created" {
			t.Errorf("Deploy on an empty server: %s %s %s, want created", c.Kind, c.Name, c.Action)
		}
	}
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	run, err := workflow.Start(ctx, c, fiveSteps, "kept-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "jetflow_runs"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Describe(ctx, "kept-1"); !errors.Is(err, workflow.ErrNotDeployed) || errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("Describe after the runs bucket was deleted: got %v, want ErrNotDeployed", err)
	}
	if _, err := workflow.Start(ctx, c, fiveSteps, "kept-2", 0); !errors.Is(err, workflow.ErrNotDeployed) {
		t.Fatalf("Start after the runs bucket was deleted: got %v, want ErrNotDeployed", err)
	}
	if _, err := workflow.NewClient(ctx, nc); !errors.As(err, &nd) || nd.Kind != "bucket" || nd.Name != "jetflow_runs" {
		t.Fatalf("NewClient after the runs bucket was deleted: got %v, want a *NotDeployedError naming bucket jetflow_runs", err)
	}
	if _, err := js.KeyValue(ctx, "jetflow_runs"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("runs bucket: got %v, want still deleted", err)
	}
	if err := js.DeleteKeyValue(ctx, "jetflow_steps"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HistoryOf(ctx, "kept-1", 1); !errors.Is(err, workflow.ErrNotDeployed) {
		t.Fatalf("history after the steps bucket was deleted: got %v, want ErrNotDeployed", err)
	}
}

// A message on the start subject, which clients may publish, only starts
// the pending run it names: what else it claims (another reason, a
// position, an owner, a result) is ignored, and a hint naming a closed run
// changes nothing (a purge claimed there does not purge).
func TestStartHintOnlyStartsAPendingRun(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, workflow.WithRetention(time.Hour))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	names := wire.NewNames("")
	hint := func(task wire.WorkflowTask) {
		t.Helper()
		data, err := kv.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, names.StartSubject(fiveSteps.Name()), data); err != nil {
			t.Fatal(err)
		}
	}

	// A pending run, announced by a hint that claims to be a result.
	input, err := kv.Marshal(10)
	if err != nil {
		t.Fatal(err)
	}
	pending := kv.Run{ID: "hinted-1", Workflow: fiveSteps.Name(), Status: kv.StatusPending, Input: input,
		CreatedAt: time.Now().UTC(), Format: kv.FormatHistory, Exec: 1}
	if _, err := kv.Create(ctx, runs, pending.ID, pending); err != nil {
		t.Fatal(err)
	}
	hint(wire.WorkflowTask{WorkflowID: pending.ID, Workflow: "Other", Reason: wire.ReasonResult, Seq: 3, Exec: 7, Owner: "elsewhere",
		Result: &kv.Result{Output: input}})
	if got, err := workflow.Attach(c, fiveSteps, pending.ID).Result(ctx); err != nil || got != 15 {
		t.Fatalf("hinted run: got %d, %v; want 15", got, err)
	}

	// A closed run, and a hint that claims to purge it.
	hint(wire.WorkflowTask{WorkflowID: pending.ID, Workflow: fiveSteps.Name(), Reason: wire.ReasonPurge})
	st, err := js.Stream(ctx, names.TaskStream())
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(names.StartSubject(">")))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) == 0 {
			break // taken and acked
		}
		if ctx.Err() != nil {
			t.Fatal("the start hint was never taken")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d, err := c.Describe(ctx, pending.ID); err != nil || d.Status != kv.StatusCompleted {
		t.Fatalf("after a purge claimed on the start subject: got %+v, %v; want the run still there, completed", d, err)
	}
}

// A worker bounds the event and dead-letter streams, and updates the
// limits of existing ones in place.
func TestWorkerAppliesStreamLimits(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 20*time.Second)
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne},
		workflow.WithEventLimits(time.Hour, 8<<20), workflow.WithDeadLetterLimits(2*time.Hour, 4<<20))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stream   string
		maxAge   time.Duration
		maxBytes int64
	}{{"JETFLOW_EVENTS", time.Hour, 8 << 20}, {"JETFLOW_DLQ", 2 * time.Hour, 4 << 20}} {
		st, err := js.Stream(ctx, tt.stream)
		if err != nil {
			t.Fatal(err)
		}
		if c := st.CachedInfo().Config; c.MaxAge != tt.maxAge || c.MaxBytes != tt.maxBytes || c.Discard != jetstream.DiscardOld {
			t.Errorf("%s: got max age %s, max bytes %d, discard %v; want %s, %d, old", tt.stream, c.MaxAge, c.MaxBytes, c.Discard, tt.maxAge, tt.maxBytes)
		}
	}
	if _, err := workflow.NewWorker(ctx, nc, workflow.WithEventLimits(-time.Second, 0)); !errors.Is(err, workflow.ErrInvalidOption) {
		t.Errorf("negative event limit: got %v, want ErrInvalidOption", err)
	}
}
