package main

// The worker process of the rolling-deployment test (rolling_test.go): the
// test binary re-run as a worker binary (package workerapp) serving the
// saga RollingOrder in one of three versions of its code, chosen by --code,
// so that one test can deploy a change while runs are in flight:
//
//	old          reserve → charge → ship
//	versioned    reserve → charge → GetVersion("insert-verify") → [verify] → ship
//	unversioned  reserve → charge → verify → ship (the same change, no version)
//
// The steps record their effects in a bucket of their own, keyed by
// idempotency key, that outlives the processes. Two gates in that bucket
// hold runs where the test wants them while it restarts the workers: a run
// whose order says so waits in charge until the gate "charge" opens (it has
// not passed payment), and every run waits in ship until the gate "ship"
// opens (it has passed payment, and the point of change, under the code
// that scheduled ship).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
	"github.com/nats-io/nats.go/jetstream"
)

// rollingWorkerEnv holds the worker's arguments (separated by spaces) in
// the environment of the helper process; the helper test skips without it.
const rollingWorkerEnv = "JETFLOW_TEST_ROLLING_WORKER"

// rollingLedgerBucket holds the steps' effects, where each held step waits
// ("held.<step>.<run>") and the gates ("gate.<step>").
const rollingLedgerBucket = "rolling_ledger"

// rollingChange is the change ID of the inserted step.
const rollingChange = "insert-verify"

// The versions of RollingOrder's code a worker can run (--code).
const (
	codeOld         = "old"
	codeVersioned   = "versioned"
	codeUnversioned = "unversioned"
)

// rollingInput is an order. HoldCharge keeps its charge step waiting for
// the gate "charge".
type rollingInput struct {
	Order      string `json:"order"`
	HoldCharge bool   `json:"hold_charge,omitempty"`
}

// The steps: each returns its own name, so a run's output is its path.
var (
	rollingReserve = steps.Ref[rollingInput, string]("RollingReserve")
	rollingCharge  = steps.Ref[rollingInput, string]("RollingCharge")
	rollingVerify  = steps.Ref[rollingInput, string]("RollingVerify")
	rollingShip    = steps.Ref[rollingInput, string]("RollingShip")
)

// rollingOptions: held steps wait for as long as the deployment takes, far
// less than a minute.
var rollingOptions = steps.Options{StartToCloseTimeout: time.Minute}

// rollingOld is RollingOrder as first deployed.
func rollingOld(ctx workflow.Context, in rollingInput) ([]string, error) {
	ctx = workflow.WithStepOptions(ctx, rollingOptions)
	return rollingPath(ctx, in, rollingReserve, rollingCharge, rollingShip)
}

// rollingVersioned inserts verify between payment and shipment behind a
// version: runs that scheduled ship before the change keep their path.
func rollingVersioned(ctx workflow.Context, in rollingInput) ([]string, error) {
	ctx = workflow.WithStepOptions(ctx, rollingOptions)
	path, err := rollingPath(ctx, in, rollingReserve, rollingCharge)
	if err != nil {
		return path, err
	}
	if workflow.GetVersion(ctx, rollingChange, workflow.DefaultVersion, 1) == 1 {
		if path, err = rollingThen(ctx, in, path, rollingVerify); err != nil {
			return path, err
		}
	}
	return rollingThen(ctx, in, path, rollingShip)
}

// rollingUnversioned makes the same change without a version.
func rollingUnversioned(ctx workflow.Context, in rollingInput) ([]string, error) {
	ctx = workflow.WithStepOptions(ctx, rollingOptions)
	return rollingPath(ctx, in, rollingReserve, rollingCharge, rollingVerify, rollingShip)
}

// rollingPath runs the steps one after the other and returns their names.
func rollingPath(ctx workflow.Context, in rollingInput, defs ...*steps.Definition[rollingInput, string]) ([]string, error) {
	var path []string
	var err error
	for _, d := range defs {
		if path, err = rollingThen(ctx, in, path, d); err != nil {
			return path, err
		}
	}
	return path, nil
}

func rollingThen(ctx workflow.Context, in rollingInput, path []string, d *steps.Definition[rollingInput, string]) ([]string, error) {
	out, err := workflow.ExecuteStep(ctx, d, in).Get(ctx)
	if err != nil {
		return path, err
	}
	return append(path, out), nil
}

// rollingWorkflow is RollingOrder in the given version of its code.
func rollingWorkflow(code string) (*workflow.Definition[rollingInput, []string], error) {
	switch code {
	case codeOld:
		return workflow.New("RollingOrder", rollingOld), nil
	case codeVersioned:
		return workflow.New("RollingOrder", rollingVersioned), nil
	case codeUnversioned:
		return workflow.New("RollingOrder", rollingUnversioned), nil
	}
	return nil, workerapp.Usagef("--code %q: want old, versioned or unversioned", code)
}

// rollingGates opens when the test writes gate.<step> into the ledger.
// One watch per process serves every held step.
type rollingGates struct {
	mu   sync.Mutex
	open map[string]chan struct{}
}

func (g *rollingGates) gate(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.open[name]
	if !ok {
		c = make(chan struct{})
		g.open[name] = c
	}
	return c
}

// watch opens the gates as their keys appear, until ctx ends.
func (g *rollingGates) watch(ctx context.Context, ledger jetstream.KeyValue) error {
	w, err := ledger.Watch(ctx, "gate.*")
	if err != nil {
		return fmt.Errorf("watching the gates: %w", err)
	}
	go func() {
		defer func() { _ = w.Stop() }()
		opened := map[string]bool{}
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			name := strings.TrimPrefix(e.Key(), "gate.")
			if !opened[name] {
				opened[name] = true
				close(g.gate(name))
			}
		}
	}()
	return nil
}

// hold marks the step as waiting, then waits for its gate; a worker that
// drains gives the step back when ctx ends.
func (g *rollingGates) hold(ctx context.Context, ledger jetstream.KeyValue, step string) error {
	info, _ := steps.InfoFrom(ctx)
	if _, err := ledger.Put(ctx, "held."+step+"."+info.WorkflowID, nil); err != nil {
		return fmt.Errorf("marking %s held: %w", step, err)
	}
	select {
	case <-g.gate(step):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rollingHandlers implements the four steps over the ledger.
func rollingHandlers(ledger jetstream.KeyValue, g *rollingGates) []steps.Handler {
	step := func(def *steps.Definition[rollingInput, string], kind string, held func(rollingInput) bool) steps.Handler {
		return steps.New(def.Name(), func(ctx context.Context, in rollingInput) (string, error) {
			if held(in) {
				if err := g.hold(ctx, ledger, kind); err != nil {
					return "", err
				}
			}
			if _, err := record(ctx, ledger, kind); err != nil {
				return "", err
			}
			return kind, nil
		})
	}
	never := func(rollingInput) bool { return false }
	return []steps.Handler{
		step(rollingReserve, "reserve", never),
		step(rollingCharge, "charge", func(in rollingInput) bool { return in.HoldCharge }),
		step(rollingVerify, "verify", never),
		step(rollingShip, "ship", func(rollingInput) bool { return true }),
	}
}

func openRollingLedger(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: rollingLedgerBucket})
}

// rollingEffects returns, by run, the effects recorded for it, by kind.
func rollingEffects(t testing.TB, ctx context.Context, ledger jetstream.KeyValue) map[string]map[string]int {
	t.Helper()
	keys, err := ledger.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int{}
	for k := range keys.Keys() {
		if strings.HasPrefix(k, "held.") || strings.HasPrefix(k, "gate.") {
			continue
		}
		entry, err := ledger.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var e procsEffect
		if err := json.Unmarshal(entry.Value(), &e); err != nil {
			t.Fatalf("effect %s: %v", k, err)
		}
		if out[e.Run] == nil {
			out[e.Run] = map[string]int{}
		}
		out[e.Run][e.Kind]++
	}
	return out
}

// TestHelperRollingWorker is the worker process of rolling_test.go; it does
// nothing in a normal test run. SIGTERM drains it, as it does `jetflow
// worker`.
func TestHelperRollingWorker(t *testing.T) {
	args := os.Getenv(rollingWorkerEnv)
	if args == "" {
		t.Skip("the worker process of the rolling-deployment test")
	}
	ctx, cancel := testenv.HelperDone(context.Background())
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	app := workerapp.New("rolling-worker")
	code := app.Flags().String("code", codeOld, "the version of RollingOrder's code: old, versioned or unversioned")
	app.Check(func() error {
		_, err := rollingWorkflow(*code)
		return err
	})
	app.Setup(func(sctx context.Context, env workerapp.Env) error {
		def, err := rollingWorkflow(*code)
		if err != nil {
			return err
		}
		js, err := jetstream.New(env.Conn)
		if err != nil {
			return err
		}
		ledger, err := openRollingLedger(sctx, js)
		if err != nil {
			return err
		}
		g := &rollingGates{open: map[string]chan struct{}{}}
		if err := g.watch(ctx, ledger); err != nil {
			return err
		}
		app.Register(def)
		app.RegisterSteps(rollingHandlers(ledger, g)...)
		return nil
	})
	if err := app.Run(ctx, strings.Fields(args)); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// startRollingWorker runs the helper worker with the given code as a
// process of its own, named name, against url, and waits until it serves.
// A SIGTERM gives tasks in flight a second before they go to other workers.
func startRollingWorker(t testing.TB, url, name, code string) *testenv.Process {
	t.Helper()
	args := strings.Join([]string{"--nats", url, "--name", name, "--code", code, "--ack-wait", "2s", "--drain-timeout", "1s"}, " ")
	p := testenv.StartCommand(t, append(cliEnv(t), rollingWorkerEnv+"="+args), os.Args[0],
		"-test.run=^TestHelperRollingWorker$", "-test.count=1", "-test.v")
	waitOutput(t, p, regexp.MustCompile(`msg="worker running"`), 20*time.Second)
	return p
}
