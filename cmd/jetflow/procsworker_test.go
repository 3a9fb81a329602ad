package main

// The worker process of the signal and cancellation tests: the test binary
// re-run as a worker binary (package workerapp, as a user's own would be)
// that serves workflows the demo does not have. Parcel waits for signals;
// Trip books, then waits in a step that never ends on its own, so a test can
// SIGKILL its worker mid-step; Journey runs a Trip as its child. Their steps record their effects in
// a bucket of their own, keyed by idempotency key, that outlives the
// processes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
	"github.com/nats-io/nats.go/jetstream"
)

// procsWorkerEnv holds the worker's arguments (separated by spaces) in the
// environment of the helper process; the helper test skips without it.
const procsWorkerEnv = "JETFLOW_TEST_PROCS_WORKER"

// procsLedgerBucket is where the steps record their effects.
const procsLedgerBucket = "procs_ledger"

// Parcel: receive In.Addresses addresses, then deliver to them.
type parcelInput struct {
	Addresses int `json:"addresses"`
}

type address struct {
	Street string `json:"street"`
	Floor  int    `json:"floor,omitempty"`
}

type parcelOutput struct {
	Streets []string `json:"streets"`
	// Rejected counts the signals whose payload did not decode.
	Rejected int    `json:"rejected"`
	Delivery string `json:"delivery"`
}

// parcelProgress answers the query "progress".
type parcelProgress struct {
	Received int    `json:"received"`
	Rejected int    `json:"rejected"`
	Stage    string `json:"stage"`
}

var (
	addressSignal = workflow.NewSignal[address]("address")
	deliverParcel = steps.Ref[[]string, string]("ParcelDeliver")
)

var parcelWorkflow = workflow.New("Parcel", func(ctx workflow.Context, in parcelInput) (parcelOutput, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 10 * time.Second})
	p := parcelProgress{Stage: "waiting"}
	if err := workflow.SetQueryHandler(ctx, "progress", func() (parcelProgress, error) { return p, nil }); err != nil {
		return parcelOutput{}, err
	}
	var out parcelOutput
	for len(out.Streets) < in.Addresses {
		a, err := addressSignal.Receive(ctx)
		var pe *workflow.SignalPayloadError
		if errors.As(err, &pe) {
			// A payload of another shape: counted, and the run waits on.
			out.Rejected++
			p.Rejected = out.Rejected
			continue
		}
		if err != nil {
			return out, err
		}
		out.Streets = append(out.Streets, a.Street)
		p.Received = len(out.Streets)
	}
	p.Stage = "delivering"
	ref, err := workflow.ExecuteStep(ctx, deliverParcel, out.Streets).Get(ctx)
	out.Delivery = ref
	return out, err
})

// Trip: book a flight and a hotel, then wait for the payment, which only a
// cancellation (or its timeout) ends; a cancel undoes both bookings.
type tripInput struct {
	Traveller string `json:"traveller"`
}

var (
	bookFlight   = steps.Ref[string, string]("TripBookFlight")
	cancelFlight = steps.Ref[string, string]("TripCancelFlight")
	bookHotel    = steps.Ref[string, string]("TripBookHotel")
	cancelHotel  = steps.Ref[string, string]("TripCancelHotel")
	awaitPayment = steps.Ref[string, string]("TripAwaitPayment")
)

var tripWorkflow = workflow.New("Trip", func(ctx workflow.Context, in tripInput) (string, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 10 * time.Second})
	saga := workflow.NewSaga(ctx)
	flight, err := workflow.ExecuteStep(ctx, bookFlight, in.Traveller).Get(ctx)
	if err != nil {
		return "", err
	}
	workflow.AddCompensation(saga, cancelFlight, flight)
	hotel, err := workflow.ExecuteStep(ctx, bookHotel, in.Traveller).Get(ctx)
	if err != nil {
		_ = saga.Compensate(ctx)
		return "", err
	}
	workflow.AddCompensation(saga, cancelHotel, hotel)
	// Longer than any test waits: the run is canceled long before.
	slow := workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: time.Minute, RetryPolicy: &steps.RetryPolicy{MaxAttempts: 1}})
	paid, err := workflow.ExecuteStep(slow, awaitPayment, in.Traveller).Get(ctx)
	if err != nil {
		_ = saga.Compensate(ctx)
		return "", err
	}
	return paid, nil
})

// Journey runs a Trip as a child workflow, under the parent close policy
// its input names, and ends with it.
type journeyInput struct {
	Traveller string `json:"traveller"`
	Policy    int    `json:"policy"`
}

var journeyWorkflow = workflow.New("Journey", func(ctx workflow.Context, in journeyInput) (string, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildOptions{ID: "trip-of-" + workflow.GetInfo(ctx).WorkflowID,
		ParentClosePolicy: workflow.ParentClosePolicy(in.Policy)})
	return workflow.ExecuteChild(ctx, tripWorkflow, tripInput{Traveller: in.Traveller}).Get(ctx)
})

// procsEffect is one effect of a step, stored under the attempt's
// idempotency key: a retried attempt records nothing more, a step scheduled
// twice records twice.
type procsEffect struct {
	Kind string `json:"kind"`
	Run  string `json:"run"`
}

// procsHandlers implements the steps of Parcel and Trip over the ledger.
func procsHandlers(ledger jetstream.KeyValue) []steps.Handler {
	effect := func(kind string) func(context.Context, string) (string, error) {
		return func(ctx context.Context, _ string) (string, error) {
			return record(ctx, ledger, kind)
		}
	}
	return []steps.Handler{
		steps.New(deliverParcel.Name(), func(ctx context.Context, _ []string) (string, error) { return record(ctx, ledger, "deliver") }),
		steps.New(bookFlight.Name(), effect("book_flight")),
		steps.New(cancelFlight.Name(), effect("cancel_flight")),
		steps.New(bookHotel.Name(), effect("book_hotel")),
		steps.New(cancelHotel.Name(), effect("cancel_hotel")),
		steps.New(awaitPayment.Name(), func(ctx context.Context, _ string) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}),
	}
}

func record(ctx context.Context, ledger jetstream.KeyValue, kind string) (string, error) {
	info, _ := steps.InfoFrom(ctx)
	key := steps.IdempotencyKey(ctx)
	data, err := json.Marshal(procsEffect{Kind: kind, Run: info.WorkflowID})
	if err != nil {
		return "", err
	}
	if _, err := ledger.Create(ctx, key, data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("recording %s: %w", kind, err)
	}
	return kind + "-" + key, nil
}

func openProcsLedger(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: procsLedgerBucket})
}

// procsEffects counts the effects recorded for run, by kind.
func procsEffects(t testing.TB, js jetstream.JetStream, run string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ledger, err := openProcsLedger(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	keys, err := ledger.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		entry, err := ledger.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var e procsEffect
		if err := json.Unmarshal(entry.Value(), &e); err != nil {
			t.Fatalf("effect %s: %v", k, err)
		}
		if e.Run == run {
			out[e.Kind]++
		}
	}
	return out
}

// TestHelperProcsWorker is the worker process of the tests in
// signal_procs_test.go; it does nothing in a normal test run.
func TestHelperProcsWorker(t *testing.T) {
	args := os.Getenv(procsWorkerEnv)
	if args == "" {
		t.Skip("the worker process of the signal and cancel tests")
	}
	ctx, cancel := testenv.HelperDone(context.Background())
	defer cancel()
	app := workerapp.New("procs-worker")
	app.Register(parcelWorkflow, tripWorkflow, journeyWorkflow)
	app.Setup(func(ctx context.Context, env workerapp.Env) error {
		js, err := jetstream.New(env.Conn)
		if err != nil {
			return err
		}
		ledger, err := openProcsLedger(ctx, js)
		if err != nil {
			return err
		}
		app.RegisterSteps(procsHandlers(ledger)...)
		return nil
	})
	if err := app.Run(ctx, strings.Fields(args)); err != nil {
		t.Fatal(err)
	}
}

// startProcsWorker runs the helper worker as a process of its own, named
// name, against url, and waits until it serves.
func startProcsWorker(t testing.TB, url, name string) *testenv.Process {
	t.Helper()
	args := strings.Join([]string{"--nats", url, "--name", name, "--ack-wait", "2s"}, " ")
	p := testenv.StartCommand(t, append(cliEnv(t), procsWorkerEnv+"="+args), os.Args[0],
		"-test.run=^TestHelperProcsWorker$", "-test.count=1", "-test.v")
	waitOutput(t, p, regexp.MustCompile(`msg="worker running"`), 20*time.Second)
	return p
}
