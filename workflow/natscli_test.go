package workflow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

var (
	cliReserve = steps.New("CLIReserve", func(ctx context.Context, sku string) (string, error) { return "res-" + sku, nil })
	cliShip    = steps.New("CLIShip", func(ctx context.Context, res string) (string, error) { return "ship-" + res, nil })
	cliOrder   = workflow.New("CLIOrder", func(ctx workflow.Context, sku string) (string, error) {
		res, err := workflow.ExecuteStep(ctx, cliReserve, sku).Get(ctx)
		if err != nil {
			return "", err
		}
		return workflow.ExecuteStep(ctx, cliShip, res).Get(ctx)
	})
)

// cliMessage is one message as `nats sub` prints it: a `Received on` line
// and the body on the next line.
type cliMessage struct {
	subject string
	body    string
}

// parseNatsSub reads the output of `nats sub` (natscli v0.5.0):
//
//	[#1] Received on "jetflow.status.CLIOrder.cli-1.started"
//	{"event":"started",...}
func parseNatsSub(t *testing.T, out string) []cliMessage {
	t.Helper()
	var msgs []cliMessage
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "] Received on ")
		if !strings.HasPrefix(line, "[#") || i < 0 {
			continue
		}
		subj, err := strconv.Unquote(line[i+len("] Received on "):])
		if err != nil {
			t.Fatalf("nats sub printed %q: %v", line, err)
		}
		if !sc.Scan() {
			t.Fatalf("nats sub printed no body after %q", line)
		}
		msgs = append(msgs, cliMessage{subject: subj, body: sc.Text()})
	}
	return msgs
}

func TestNatsCLIShowsEventsAndBuckets(t *testing.T) {
	nats := testenv.NATSCLI(t)
	srv := testenv.Start(t, true)
	url := srv.ClientURL()
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	env := testenv.CleanEnv(t.TempDir())

	sub := testenv.StartCommand(t, env, nats, "--server", url, "sub", "jetflow.status.>")
	// The CLI subscribes some time after it starts: publish a probe on the
	// subjects it watches until it prints one, so no event of the run is
	// published before it listens.
	const probe = "jetflow.status.CLIProbe.probe.ready"
	for !strings.Contains(sub.Output(), strconv.Quote(probe)) {
		if err := nc.Publish(probe, []byte(`{"event":"ready"}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.Done():
			t.Fatalf("nats sub exited (code %d):\n%s", sub.ExitCode(), sub.Output())
		case <-ctx.Done():
			t.Fatalf("nats sub printed no probe:\n%s", sub.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}

	startWorker(t, nc, []workflow.Registrable{cliOrder}, []steps.Handler{cliReserve, cliShip})
	run, err := workflow.Start(ctx, c, cliOrder, "cli-1", "sku1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != "ship-res-sku1" {
		t.Fatalf("Result: got %q, %v; want ship-res-sku1", got, err)
	}
	// The closing event's body, not just its subject line: the CLI prints
	// the two apart, and a kill between them would cut the body off.
	last := `{"event":"` + wire.EventCompleted + `","workflow":"CLIOrder","workflow_id":"cli-1"`
	for !strings.Contains(sub.Output(), last) {
		select {
		case <-sub.Done():
			t.Fatalf("nats sub exited (code %d):\n%s", sub.ExitCode(), sub.Output())
		case <-ctx.Done():
			t.Fatalf("nats sub did not print %s:\n%s", last, sub.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = sub.Kill()
	out := sub.Output()

	counts := map[string]int{}
	for _, m := range parseNatsSub(t, out) {
		if m.subject == probe {
			continue
		}
		var ev wire.Event
		if err := json.Unmarshal([]byte(m.body), &ev); err != nil {
			t.Errorf("nats sub printed %q for %s: not one line of JSON: %v", m.body, m.subject, err)
			continue
		}
		if want := "jetflow.status." + ev.Workflow + "." + ev.WorkflowID + "." + ev.Event; m.subject != want {
			t.Errorf("event %s printed on %s, want on %s", m.body, m.subject, want)
		}
		if ev.WorkflowID == "cli-1" {
			counts[ev.Event]++
		}
	}
	for event, want := range map[string]int{wire.EventStarted: 1, wire.EventStepCompleted: 2, wire.EventCompleted: 1} {
		if got := counts[event]; got != want {
			t.Errorf("%s events of cli-1 printed by nats sub: got %d, want %d\n%s", event, got, want, out)
		}
	}

	kvls := exec.CommandContext(ctx, nats, "--server", url, "kv", "ls")
	kvls.Env = env
	lsOut, err := kvls.CombinedOutput()
	if err != nil {
		t.Fatalf("nats kv ls: %v\n%s", err, lsOut)
	}
	for _, bucket := range []string{"jetflow_runs", "jetflow_steps", "jetflow_breakers"} {
		if !strings.Contains(string(lsOut), bucket) {
			t.Errorf("nats kv ls does not list %s:\n%s", bucket, lsOut)
		}
	}
}
