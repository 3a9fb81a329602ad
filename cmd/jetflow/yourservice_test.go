package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
)

// exampleBinaries builds the worker and the client of examples/greeting,
// a module of its own that requires jetflow as any user's module does
// (through a replace pointing at this checkout), so it can use only the
// public API.
func exampleBinaries(t *testing.T) (worker, client string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/greeting-worker", "./cmd/greet")
	cmd.Dir = filepath.Join("..", "..", "examples", "greeting")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/greeting: %v\n%s", err, out)
	}
	return filepath.Join(dir, "greeting-worker"), filepath.Join(dir, "greet")
}

// compact returns JSON without its white space, for comparisons that keep
// the order of the fields.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("JSON %q: %v", raw, err)
	}
	return b.String()
}

// Acceptance 2 of issue 12: a workflow the demo does not have, in a module
// of its own with its own worker binary (package workerapp), driven by the
// jetflow CLI with JSON in and JSON out, and by a client in another
// process with the workflow's Go types.
func TestAcceptanceYourOwnWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts processes")
	}
	workerBin, clientBin := exampleBinaries(t)
	_, url := startServer(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	worker := testenv.StartCommand(t, cliEnv(t), workerBin, "--nats", url, "--name", "greeter-1",
		"--metrics-addr", metricsAddr, "--log-format", "json", "--ack-wait", "2s")
	waitOutput(t, worker, regexp.MustCompile(`"msg":"worker running".*"workflows":"Greeting","steps":"ComposeGreeting,DeliverGreeting"`), 20*time.Second)

	// JSON in.
	input := `{"name": "Ada", "email": "ada@example.com", "excitement": 2}`
	out, errOut, code := cli(t, 20*time.Second, "start", "Greeting", "--id", "greet-1", "--input", input, "--nats", url)
	if code != 0 || !strings.Contains(out, "started Greeting run greet-1") {
		t.Fatalf("start: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// JSON out, the fields in the order of the workflow's output type.
	out, errOut, code = cli(t, 60*time.Second, "result", "greet-1", "--wait", "--wait-timeout", "50s", "--json", "--nats", url)
	if code != 0 {
		t.Fatalf("result: exit %d\nstdout: %s\nstderr: %s\nworker:\n%s", code, out, errOut, worker.Output())
	}
	var res resultJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result --json: %v\n%s", err, out)
	}
	wantOut := `{"message":"Hello, Ada!!","delivery_id":"delivery-greet-1/2"}`
	if res.Status != "completed" || res.Workflow != "Greeting" || compact(t, res.Output) != wantOut {
		t.Errorf("result --json: status %s, workflow %s, output %s; want completed, Greeting, %s", res.Status, res.Workflow, compact(t, res.Output), wantOut)
	}

	// status and history print the input and outputs as JSON too.
	out, errOut, code = cli(t, 20*time.Second, "status", "greet-1", "--json", "--nats", url)
	var st statusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got, want := compact(t, st.Input), `{"name":"Ada","email":"ada@example.com","excitement":2}`; got != want {
		t.Errorf("status --json input: got %s, want %s", got, want)
	}
	if got := compact(t, st.Output); got != wantOut {
		t.Errorf("status --json output: got %s, want %s", got, wantOut)
	}
	out, errOut, code = cli(t, 20*time.Second, "history", "greet-1", "--json", "--nats", url)
	var h historyJSON
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil {
		t.Fatalf("history --json: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var steps []string
	for _, e := range h.Timeline {
		steps = append(steps, e.Name+"="+compact(t, e.Output))
	}
	if got, want := strings.Join(steps, " "), `ComposeGreeting="Hello, Ada!!" DeliverGreeting="delivery-greet-1/2"`; got != want {
		t.Errorf("history --json timeline: got %s, want %s", got, want)
	}
	if compact(t, h.Input) != compact(t, st.Input) || compact(t, h.Output) != wantOut {
		t.Errorf("history --json: input %s, output %s; want %s and %s", h.Input, h.Output, st.Input, wantOut)
	}

	// The workflow's typed step error reaches the CLI by its type.
	out, errOut, code = cli(t, 60*time.Second, "start", "Greeting", "--id", "greet-2", "--input", `{"email": "nobody@example.com"}`,
		"--wait", "--wait-timeout", "50s", "--nats", url)
	if code != 1 || !strings.Contains(errOut, "run greet-2 ended failed") || !strings.Contains(errOut, "NoName") {
		t.Errorf("start without a name: exit %d, want 1 naming NoName\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// A client in another service, with the workflow's Go types.
	cmd := exec.Command(clientBin, "--nats", url, "--id", "greet-3", "--name", "Bob", "--email", "bob@example.com")
	cmd.Env = cliEnv(t)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("greet: %v\n%s", err, got)
	}
	if want := `{"message":"Hello, Bob!","delivery_id":"delivery-greet-3/2"}` + "\n"; string(got) != want {
		t.Errorf("greet printed %q, want %q", got, want)
	}

	if n := scrape(t, metricsAddr, "jetflow_step_attempts_total", `step="DeliverGreeting"`, `outcome="ok"`); n != 2 {
		t.Errorf("jetflow_step_attempts_total of DeliverGreeting: %v, want 2", n)
	}

	// A workflow no worker serves is started and waits, and says so.
	out, errOut, code = cli(t, 20*time.Second, "start", "Hello", "--id", "hello-1", "--input", `{"name": "x"}`, "--nats", url)
	if code != 0 || !strings.Contains(out, "started Hello run hello-1 (status pending)") || !strings.Contains(errOut, "no worker has registered workflow Hello") {
		t.Errorf("start of a workflow no worker serves: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// SIGTERM drains and exits 0, as jetflow worker does.
	sendSignal(t, worker, syscall.SIGTERM)
	if code, _ := waitExit(t, worker, 30*time.Second); code != 0 {
		t.Errorf("worker after SIGTERM: exit %d, want 0\n%s", code, worker.Output())
	}
	if !strings.Contains(worker.Output(), `"msg":"worker stopped"`) {
		t.Errorf("worker output lacks its stop:\n%s", worker.Output())
	}
}
