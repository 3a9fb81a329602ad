package main

// Acceptance 2 of issue 13 with real processes: a changed saga (a step
// inserted between payment and shipment) deployed by restarting three
// worker processes one by one while 200 orders are in flight. The workers
// are the helper of rolling_worker_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// rollingOrders is how many orders are in flight during the deployment:
// half of them past payment, half not.
const rollingOrders = 200

// The paths of RollingOrder: before the change, and after it.
var (
	oldPath = []string{"reserve", "charge", "ship"}
	newPath = []string{"reserve", "charge", "verify", "ship"}
)

// rollingRun is what a run of the deployment left: its outcome, the
// versions of the change its history records, the effects its steps had,
// and the worker that ran its shipment.
type rollingRun struct {
	id       string
	paid     bool // past payment (ship scheduled) before the deployment
	path     []string
	err      error
	versions []workflow.Version
	effects  map[string]int
	shipper  string
}

// rollingDeploy starts n orders on three workers running the old code of
// RollingOrder and holds them: the first half past payment, waiting in
// ship (they passed the point of change under the old code); the second
// half in charge (they have not reached it). Then it deploys code to the
// three workers one by one, a new process started before an old one is
// stopped (SIGTERM, SIGKILL, SIGTERM), lets every order go on, and returns
// what each run did. Every run finishes under the new code: no old worker
// is left when the gates open.
func rollingDeploy(t *testing.T, code string, n int) (runs []rollingRun, newWorkers []string, url string) {
	t.Helper()
	begin := time.Now()
	_, url = startServer(t)
	e := connectEngine(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	old := make([]*testenv.Process, 3)
	for i := range old {
		old[i] = startRollingWorker(t, url, fmt.Sprintf("old-w%d", i+1), codeOld)
	}
	ledger, err := openRollingLedger(ctx, e.js)
	if err != nil {
		t.Fatal(err)
	}
	def := workflow.New("RollingOrder", rollingOld) // the client needs the name and types only
	for i := range n {
		r := rollingRun{id: fmt.Sprintf("rolling-paid-%03d", i), paid: true}
		if i >= n/2 {
			r = rollingRun{id: fmt.Sprintf("rolling-unpaid-%03d", i)}
		}
		if _, err := workflow.Start(ctx, e.client, def, r.id, rollingInput{Order: r.id, HoldCharge: !r.paid}); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	waitHeld(t, ctx, ledger, "ship", n/2)
	waitHeld(t, ctx, ledger, "charge", n-n/2)
	held := time.Now()

	for i, w := range old {
		name := fmt.Sprintf("new-w%d", i+1)
		startRollingWorker(t, url, name, code)
		newWorkers = append(newWorkers, name)
		if i == 1 {
			// A crash: its held steps wait out the ack wait.
			_ = w.Kill()
			continue
		}
		sendSignal(t, w, syscall.SIGTERM)
		if exit, _ := waitExit(t, w, 15*time.Second); exit != 0 {
			t.Fatalf("old-w%d after SIGTERM: exit %d; want 0 (drained)", i+1, exit)
		}
	}
	deployed := time.Now()
	for _, gate := range []string{"gate.charge", "gate.ship"} {
		if _, err := ledger.Put(ctx, gate, nil); err != nil {
			t.Fatal(err)
		}
	}

	for i := range runs {
		r := &runs[i]
		r.path, r.err = workflow.Attach(e.client, def, r.id).Result(ctx)
		if ctx.Err() != nil {
			d, _ := e.client.Describe(context.Background(), r.id)
			t.Fatalf("run %s not finished: %s, waiting on %q", r.id, d.Status, d.CurrentStep)
		}
		hist, err := e.client.History(ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			switch {
			case h.Kind == "version" && h.Name == rollingChange && h.Version != nil:
				r.versions = append(r.versions, *h.Version)
			case h.Kind == "step" && h.Name == rollingShip.Name():
				r.shipper = h.Worker
			}
		}
	}
	effects := rollingEffects(t, ctx, ledger)
	for i := range runs {
		runs[i].effects = effects[runs[i].id]
	}
	t.Logf("%s: %d orders held in %s, deployed to 3 workers in %s, all ended %s later (%s in all)", code, n,
		held.Sub(begin).Round(time.Millisecond), deployed.Sub(held).Round(time.Millisecond),
		time.Since(deployed).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	checkResultsOnce(t, ctx, e.js)
	return runs, newWorkers, url
}

// waitHeld waits until want runs wait in step (by the ledger's marks).
func waitHeld(t *testing.T, ctx context.Context, ledger jetstream.KeyValue, step string, want int) {
	t.Helper()
	for {
		got := 0
		keys, err := ledger.ListKeysFiltered(ctx, "held."+step+".*")
		if err == nil {
			for range keys.Keys() {
				got++
			}
		}
		if got >= want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d runs held in %s; want %d (%v)", got, step, want, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkResultsOnce checks that no step result was recorded twice: the
// steps bucket's stream never replaced a value.
func checkResultsOnce(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	_, stepsBucket, _ := kv.BucketNames("jetflow")
	st, err := js.Stream(ctx, "KV_"+stepsBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != info.State.LastSeq {
		t.Errorf("steps bucket holds %d values but stored %d: %d recorded twice", info.State.Msgs, info.State.LastSeq, info.State.LastSeq-info.State.Msgs)
	}
}

// With GetVersion, a change deployed while 200 orders are in flight takes
// every order to its end: the 100 that passed payment under the old code
// replay their old path under the new one, the 100 that reach the point of
// change under the new code take the new path, and each run's history
// records the version it took; no run fails, no effect happens twice.
func TestRollingDeployWithVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	runs, newWorkers, url := rollingDeploy(t, codeVersioned, rollingOrders)
	var onOld, onNew, nondeterministic int
	for _, r := range runs {
		if errors.Is(r.err, workflow.ErrNonDeterminism) {
			nondeterministic++
		}
		if r.err != nil {
			t.Errorf("run %s: %v; want completed", r.id, r.err)
			continue
		}
		// A run's path agrees with the version its history records.
		want, wantVersions := oldPath, []workflow.Version(nil)
		if len(r.versions) > 0 {
			want, wantVersions = newPath, []workflow.Version{1}
		}
		if !slices.Equal(r.versions, wantVersions) || !slices.Equal(r.path, want) {
			t.Errorf("run %s: path %q, versions %v in its history; want %q with versions %v", r.id, r.path, r.versions, want, wantVersions)
			continue
		}
		effects := map[string]int{}
		for _, step := range want {
			effects[step] = 1
		}
		if !maps.Equal(r.effects, effects) {
			t.Errorf("run %s: effects %v; want %v (each step once)", r.id, r.effects, effects)
		}
		if !slices.Contains(newWorkers, r.shipper) {
			t.Errorf("run %s: shipped by %q; want one of the new workers %q", r.id, r.shipper, newWorkers)
		}
		// Those past payment before the deployment keep the old path;
		// the others take the new one.
		switch {
		case r.paid && len(r.versions) == 0:
			onOld++
		case !r.paid && len(r.versions) == 1:
			onNew++
		default:
			t.Errorf("run %s (past payment before the deployment: %v): path %q; want the %s path", r.id, r.paid, r.path, map[bool]string{true: "old", false: "new"}[r.paid])
		}
	}
	t.Logf("%d runs on the old path, %d on the new one, %d non-determinism errors", onOld, onNew, nondeterministic)
	if onOld != rollingOrders/2 || onNew != rollingOrders-rollingOrders/2 || nondeterministic != 0 {
		t.Errorf("%d runs on the old path, %d on the new one, %d non-determinism errors; want %d, %d, 0",
			onOld, onNew, nondeterministic, rollingOrders/2, rollingOrders-rollingOrders/2)
	}

	// What `jetflow history` shows of each path.
	for _, c := range []struct {
		id           string
		showsVersion bool
	}{{"rolling-paid-000", false}, {fmt.Sprintf("rolling-unpaid-%03d", rollingOrders-1), true}} {
		out, errOut, code := cli(t, 20*time.Second, "history", c.id, "--nats", url)
		if code != 0 {
			t.Fatalf("history %s: exit %d: %s", c.id, code, errOut)
		}
		if got := strings.Contains(out, "version "+rollingChange) && strings.Contains(out, "took version 1"); got != c.showsVersion {
			t.Errorf("history %s shows the version: %v; want %v\n%s", c.id, got, c.showsVersion, out)
		}
		t.Logf("jetflow history %s:\n%s", c.id, out)
		out, errOut, code = cli(t, 20*time.Second, "history", c.id, "--json", "--nats", url)
		var h struct {
			Timeline []struct {
				Kind    string `json:"kind"`
				Name    string `json:"name"`
				Version *int   `json:"version"`
			} `json:"timeline"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &h) != nil {
			t.Fatalf("history %s --json: exit %d: %s%s", c.id, code, out, errOut)
		}
		got := false
		for _, e := range h.Timeline {
			got = got || (e.Kind == "version" && e.Name == rollingChange && e.Version != nil && *e.Version == 1)
		}
		if got != c.showsVersion {
			t.Errorf("history %s --json has the version: %v; want %v\n%s", c.id, got, c.showsVersion, out)
		}
	}
}

// The same deployment with the step inserted without a version: the runs
// that passed payment under the old code fail with a NonDeterminismError
// when the new code rebuilds them, so the test above does not pass by
// luck. The runs that reach the point of change under the new code
// complete on the new path.
func TestRollingDeployWithoutVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	runs, _, _ := rollingDeploy(t, codeUnversioned, rollingOrders)
	var broken, completed int
	for _, r := range runs {
		switch {
		case r.paid && errors.Is(r.err, workflow.ErrNonDeterminism):
			if broken == 0 {
				t.Logf("run %s: %v", r.id, r.err)
			}
			broken++
		case !r.paid && r.err == nil && slices.Equal(r.path, newPath):
			completed++
		default:
			t.Errorf("run %s (past payment before the deployment: %v): path %q, %v; want %s", r.id, r.paid, r.path, r.err,
				map[bool]string{true: "a non-determinism error", false: "completed on the new path"}[r.paid])
		}
	}
	t.Logf("%d old runs failed with a non-determinism error, %d new runs completed", broken, completed)
	if broken == 0 {
		t.Error("no run failed with a non-determinism error: the deployment did not rebuild an old run under the new code")
	}
}
