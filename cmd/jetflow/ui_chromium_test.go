package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// screenshotEnv names a file the Chromium test also writes its timeline
// screenshot to: `JETFLOW_UI_SCREENSHOT=$PWD/docs/ui-timeline.png go test
// -run TestUIInChromium ./cmd/jetflow/` makes the README's picture.
const screenshotEnv = "JETFLOW_UI_SCREENSHOT"

// chromium finds the browser: $JETFLOW_CHROMIUM, or Debian's chromium
// (which .ci/run installs), or a Chrome.
func chromium() (string, error) {
	if p := os.Getenv("JETFLOW_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium in PATH")
}

// TestUIInChromium drives `jetflow ui` in a real headless Chromium while the
// demo's scenarios run against the same server: the runs arrive in the open
// list without a reload, shipment_failed's timeline shows CreateShipment's
// three failed attempts and then the compensations RefundPayment and
// ReleaseInventory, and the breaker page shows payment-primary opened once.
func TestUIInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real headless Chromium (apt-get install chromium); skipped under -short")
	}
	browser, err := chromium()
	if err != nil {
		t.Fatalf("%v: this test needs a real browser; install Debian's chromium (apt-get install -y chromium; .ci/run does) or set JETFLOW_CHROMIUM", err)
	}
	srv := testenv.Start(t, true)
	ctx := testenv.Context(t, 2*time.Minute)

	// The page, on a free loopback port, as `jetflow ui` serves it.
	uctx, stopUI := context.WithCancel(ctx)
	uiDone := make(chan error, 1)
	addrc := make(chan net.Addr, 1)
	go func() {
		uiDone <- serveUI(uctx, []string{"--nats", srv.ClientURL(), "--listen", "127.0.0.1:0"}, io.Discard, func(a net.Addr) { addrc <- a })
	}()
	t.Cleanup(func() { stopUI(); <-uiDone })
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-uiDone:
		t.Fatalf("jetflow ui: %v", err)
	}

	// The browser: its process ends when the allocator's context does.
	actx, stopBrowser := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))...)
	t.Cleanup(stopBrowser)
	bctx, closeTab := chromedp.NewContext(actx)
	t.Cleanup(closeTab)

	// The runs list is open (and listening) before any run exists.
	do(t, bctx, chromedp.Navigate(base+"/"))
	waitJS(t, bctx, `!document.getElementById("live").hidden`, "the runs list to go live")
	do(t, bctx, chromedp.Evaluate[chromedp.Void](`window.jetflowNotReloaded = true`))

	// The demo's scenarios, against the same server, from its own workers.
	var stdout, stderr bytes.Buffer
	demoDone := make(chan error, 1)
	go func() { demoDone <- runDemo(ctx, []string{"--json", "--nats", srv.ClientURL()}, &stdout, &stderr) }()
	// One more order while the page is open: it appears without a reload.
	nc := srv.Conn()
	client, err := workflow.NewClient(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Start(ctx, client, demo.OrderOrchestration, "ui-live-order", demo.NewOrder("ui-live-order", "alice")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, `document.querySelector('#run-ui-live-order[data-status="completed"]') !== null`, "the new run to appear, completed")
	if err := <-demoDone; err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	scenarios := map[string]string{} // scenario → workflow ID
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r demo.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("demo line %q: %v", line, err)
		}
		scenarios[r.Scenario] = r.WorkflowID
	}
	if len(scenarios) != len(demo.ScenarioNames()) {
		t.Fatalf("demo ran %d scenarios, want %d", len(scenarios), len(demo.ScenarioNames()))
	}
	// Every scenario's run is in the list with its record's status, all of
	// them brought by the live stream: the page was never reloaded.
	for name, id := range scenarios {
		rec, err := client.Record(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		waitJS(t, bctx, fmt.Sprintf(`document.querySelector('#run-%s[data-status="%s"]') !== null`, id, rec.Status),
			fmt.Sprintf("scenario %s: run %s shown %s", name, id, rec.Status))
	}
	if !eval[bool](t, bctx, `window.jetflowNotReloaded === true`) {
		t.Errorf("the runs list was reloaded; the runs must arrive live")
	}

	// shipment_failed's timeline.
	do(t, bctx, chromedp.Navigate(base+"/runs/"+scenarios["shipment_failed"]), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	type laneJSON struct {
		Step         string    `json:"step"`
		Compensation bool      `json:"compensation"`
		Outcomes     []string  `json:"outcomes"`
		Start, End   []float64 // each bar's x and x+width
	}
	lanes := eval[[]laneJSON](t, bctx, `[...document.querySelectorAll("#timeline .lane[data-step]")].map(l => ({
		step: l.dataset.step, compensation: l.dataset.compensation === "true",
		outcomes: [...l.querySelectorAll("rect.bar")].map(r => r.dataset.outcome),
		Start: [...l.querySelectorAll("rect.bar")].map(r => Number(r.getAttribute("x"))),
		End: [...l.querySelectorAll("rect.bar")].map(r => Number(r.getAttribute("x")) + Number(r.getAttribute("width"))),
	}))`)
	ship, refund, release := -1, -1, -1
	for i, l := range lanes {
		switch {
		case l.Step == "CreateShipment" && !l.Compensation:
			ship = i
		case l.Step == "RefundPayment" && l.Compensation:
			refund = i
		case l.Step == "ReleaseInventory" && l.Compensation:
			release = i
		}
	}
	if ship < 0 || refund < 0 || release < 0 || !(ship < refund && refund < release) {
		t.Fatalf("lanes %+v: want CreateShipment, then compensations RefundPayment and ReleaseInventory", lanes)
	}
	if got := strings.Join(lanes[ship].Outcomes, " "); got != "failed failed final" {
		t.Errorf("CreateShipment's attempts %q, want three failed: failed failed final", got)
	}
	// On the time axis too: each compensation starts once what came before ended.
	s, rf, rl := lanes[ship], lanes[refund], lanes[release]
	if len(rf.Start) == 0 || len(rl.Start) == 0 || rf.Start[0] < s.End[len(s.End)-1]-1 || rl.Start[0] < rf.End[len(rf.End)-1]-1 {
		t.Errorf("bars out of order on the axis: CreateShipment ends %v, RefundPayment %v–%v, ReleaseInventory %v–%v", s.End, rf.Start, rf.End, rl.Start, rl.End)
	}
	if errorsShown := eval[int](t, bctx, `document.querySelectorAll('.lane[data-step="CreateShipment"] .attempt-error').length`); errorsShown != 3 {
		t.Errorf("CreateShipment shows %d attempt errors, want 3", errorsShown)
	}
	png, err := chromedp.Run(bctx, chromedp.Screenshot(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shot := filepath.Join(t.ArtifactDir(), "ui-timeline.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the timeline: %s (go test -artifacts keeps it)", shot)
	if p := os.Getenv(screenshotEnv); p != "" {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", p)
	}

	// child_payment links to its child, which links back to its parent.
	parent := scenarios["child_payment"]
	do(t, bctx, chromedp.Navigate(base+"/runs/"+parent), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	child := eval[string](t, bctx, `(document.querySelector("a.child") || {}).textContent || ""`)
	if child == "" {
		t.Fatalf("run %s links to no child run", parent)
	}
	do(t, bctx, chromedp.Click(chromedp.CSS("a.child")), chromedp.WaitVisible(chromedp.CSS("#parent")))
	if got := eval[string](t, bctx, `document.getElementById("parent").textContent`); got != parent {
		t.Errorf("child %s names parent %q, want %s", child, got, parent)
	}

	// The breakers: payment-primary opened once, and its one opening in the feed.
	do(t, bctx, chromedp.Navigate(base+"/breakers"), chromedp.WaitVisible(chromedp.CSS("#breakers")))
	opens := eval[string](t, bctx, `(document.querySelector('#breakers tr[data-breaker="payment-primary"]') || {dataset: {}}).dataset.opens || ""`)
	openings := eval[string](t, bctx, `String(document.querySelectorAll('#feed li[data-breaker="payment-primary"][data-to="open"]').length)`)
	if opens != "1" || openings != "1" {
		t.Errorf("payment-primary: opens %q, %s openings in the feed; want opened once", opens, openings)
	}
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

// eval is the value of a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("chromium: evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page (bounded by the test's
// context, not by a threshold of its own).
func waitJS(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
