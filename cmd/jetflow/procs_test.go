package main

// Helpers of the acceptance tests: they run the jetflow binary, built once
// per test run, as real processes (servers, workers, client commands).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	if os.Getenv(procsWorkerEnv) != "" || os.Getenv(rollingWorkerEnv) != "" {
		// A worker process of a test (SIGKILLed, as a rule): it builds
		// nothing, and leaves no directory behind.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "jetflow-test-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// jetflowBinary builds the command once per test run and returns its path.
func jetflowBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "jetflow")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// cliEnv is the environment of every process a test starts: no NATS_
// variable of the user's leaks in.
func cliEnv(t testing.TB) []string {
	return testenv.CleanEnv(t.TempDir())
}

// jetflow starts `jetflow args...` as a process killed at the end of the test.
func jetflow(t testing.TB, args ...string) *testenv.Process {
	t.Helper()
	return testenv.StartCommand(t, cliEnv(t), jetflowBinary(t), args...)
}

// jetflowWithEnv is jetflow with env (KEY=value) added to the process's
// environment.
func jetflowWithEnv(t testing.TB, env []string, args ...string) *testenv.Process {
	t.Helper()
	return testenv.StartCommand(t, append(cliEnv(t), env...), jetflowBinary(t), args...)
}

// waitOutput waits until the process printed a line matching re and returns
// the first match's submatches.
func waitOutput(t testing.TB, p *testenv.Process, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.Done():
			t.Fatalf("process %d exited (code %d) before printing %q:\n%s", p.PID(), p.ExitCode(), re, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not print %q within %s:\n%s", p.PID(), re, d, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var readyRE = regexp.MustCompile(`ready: clients connect to (nats://[0-9.:]+)`)

// startServer runs `jetflow server` on a free loopback port and returns it
// with its client URL.
func startServer(t testing.TB, extra ...string) (*testenv.Process, string) {
	t.Helper()
	args := append([]string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir(), "--quiet"}, extra...)
	p := jetflow(t, args...)
	m := waitOutput(t, p, readyRE, 20*time.Second)
	return p, m[1]
}

// startWorker runs `jetflow worker --name name` against url and waits until it serves.
func startWorker(t testing.TB, url, name string, extra ...string) *testenv.Process {
	t.Helper()
	args := append([]string{"worker", "--nats", url, "--name", name, "--ack-wait", "2s"}, extra...)
	p := jetflow(t, args...)
	waitOutput(t, p, regexp.MustCompile(`msg="worker running"`), 20*time.Second)
	return p
}

// cli runs a client command to its end, bounded by d, and returns its
// stdout, stderr and exit code.
func cli(t testing.TB, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	return cliWithEnv(t, d, nil, args...)
}

// cliWithEnv is cli with env (KEY=value) added to the command's environment.
func cliWithEnv(t testing.TB, d time.Duration, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, jetflowBinary(t), args...)
	cmd.Env = append(cliEnv(t), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("jetflow %s: still running after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), d, stdout.String(), stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("jetflow %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// sendSignal sends sig to a process this test started, by its PID.
func sendSignal(t testing.TB, p *testenv.Process, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.PID(), sig); err != nil {
		t.Fatalf("signal %v to %d: %v", sig, p.PID(), err)
	}
}

// waitExit waits for the process to exit and returns its exit code and how
// long it took.
func waitExit(t testing.TB, p *testenv.Process, d time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.Done():
		return p.ExitCode(), time.Since(start)
	case <-time.After(d):
		t.Fatalf("process %d did not exit within %s:\n%s", p.PID(), d, p.Output())
		return 0, 0
	}
}

// engine is the test's own connection to the server, as a client.
type engine struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	client *workflow.Client
}

func connectEngine(t testing.TB, url string, opts ...workflow.Option) *engine {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := workflow.NewClient(ctx, nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &engine{nc: nc, js: js, client: c}
}

// order is a demo order whose outcome the test knows in advance.
type order struct {
	id, json, want string
}

// orders returns n orders: most complete, every seventh is sold out and
// every eleventh user cannot pay (the saga then releases the reservation).
func orders(prefix string, n int) []order {
	out := make([]order, n)
	for i := range out {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		product, user, want := "SKU-1", fmt.Sprintf("user-%d", i), demo.StatusCompleted
		switch {
		case i%7 == 3:
			product, want = demo.SoldOutPrefix+"-1", demo.StatusOutOfStock
		case i%11 == 5:
			user, want = demo.BrokeUserPrefix+fmt.Sprint(i), demo.StatusPaymentFailed
		}
		out[i] = order{id: id, want: want, json: fmt.Sprintf(
			`{"order_id":%q,"user_id":%q,"items":[{"product_id":%q,"quantity":2,"price":12.5}],"total_amount":25,"shipping_address":"1 Test Street"}`,
			id, user, product)}
	}
	return out
}

// startAll starts the orders through the client, conc at a time.
func (e *engine) startAll(t testing.TB, ords []order) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(ords))
	sem := make(chan struct{}, 16)
	for _, o := range ords {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := demo.StartJSON(ctx, e.client, demo.OrderOrchestration.Name(), o.id, []byte(o.json)); err != nil {
				errs <- fmt.Errorf("starting %s: %w", o.id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitDone waits until every order's run is terminal and checks that each
// ended as expected.
func (e *engine) waitDone(t testing.TB, ords []order, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	pending := map[string]order{}
	for _, o := range ords {
		pending[o.id] = o
	}
	var lastErr error
	for len(pending) > 0 {
		for id, o := range pending {
			// Each read gets its own deadline: a request lost with a killed
			// server is answered by nobody, and must not eat the whole wait.
			rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
			run, err := e.client.Record(rctx, id)
			rcancel()
			if err != nil {
				// A server may be failing over: keep trying until the deadline.
				lastErr = err
				continue
			}
			if !run.Status.Closed() {
				continue
			}
			delete(pending, id)
			if run.Status != kv.StatusCompleted {
				t.Errorf("run %s: status %s (%+v), want completed", id, run.Status, run.Error)
				continue
			}
			var out demo.OrderOutput
			if err := kv.Unmarshal(run.Output, &out); err != nil {
				t.Errorf("run %s: output: %v", id, err)
			} else if out.Status != o.want {
				t.Errorf("run %s: order status %s, want %s", id, out.Status, o.want)
			}
		}
		if len(pending) == 0 {
			return
		}
		if ctx.Err() != nil {
			var some []string
			for id := range pending {
				if len(some) < 5 {
					d, _ := e.client.Describe(context.Background(), id)
					some = append(some, fmt.Sprintf("%s (%s, waits on %s)", id, d.Status, d.CurrentStep))
					// What a stuck run leaves to look at: its timeline and
					// the consumer of the step it waits on.
					hist, herr := e.client.History(context.Background(), id)
					for _, h := range hist {
						t.Logf("%s position %d: %s %s done=%v attempts=%d worker=%s", id, h.Seq, h.Kind, h.Name, h.Done, h.Attempts, h.Worker)
					}
					if d.CurrentStep != "" {
						if c, cerr := e.js.Consumer(context.Background(), "JETFLOW_TASKS", "step_"+d.CurrentStep); cerr == nil {
							if ci, ierr := c.Info(context.Background()); ierr == nil {
								t.Logf("consumer step_%s: pending %d, ack pending %d, redelivered %d, waiting pulls %d", d.CurrentStep, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting)
							}
						}
					}
					if herr != nil {
						t.Logf("%s history: %v", id, herr)
					}
				}
			}
			t.Fatalf("%d of %d runs not finished after %s, e.g. %s (last read error: %v)", len(pending), len(ords), d, strings.Join(some, ", "), lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOnce checks that no step result was recorded twice (the steps
// bucket's stream never replaced a value: every message it ever stored is
// still there) and that every effect of the simulated services happened
// once per order.
func (e *engine) checkOnce(t testing.TB, ords []order) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, stepsBucket, _ := kv.BucketNames("jetflow")
	st, err := e.js.Stream(ctx, "KV_"+stepsBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != info.State.LastSeq {
		t.Errorf("steps bucket holds %d results but stored %d: %d recorded twice", info.State.Msgs, info.State.LastSeq, info.State.LastSeq-info.State.Msgs)
	}
	ledger, err := demo.OpenKVLedger(ctx, e.js, ledgerBucket("jetflow"))
	if err != nil {
		t.Fatal(err)
	}
	effects, err := ledger.Effects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ords {
		c := demo.Count(demo.ForOrder(effects, o.id))
		var want demo.Counts
		switch o.want {
		case demo.StatusCompleted:
			want = demo.Counts{Reserved: 1, Charged: 1, Shipped: 1, Notified: 1}
		case demo.StatusPaymentFailed:
			want = demo.Counts{Reserved: 1, Released: 1}
		}
		if c.Reserved != want.Reserved || c.Released != want.Released || c.Charged != want.Charged ||
			c.Refunded != want.Refunded || c.Shipped != want.Shipped || c.Notified != want.Notified {
			t.Errorf("order %s (%s): effects %+v, want %+v", o.id, o.want, c, want)
		}
	}
}

// workersOfResults counts the step results each worker recorded.
func (e *engine) workersOfResults(t testing.TB) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, stepsBucket, _ := kv.BucketNames("jetflow")
	b, err := e.js.KeyValue(ctx, stepsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := b.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for k := range keys.Keys() {
		all = append(all, k)
	}
	out := map[string]int{}
	for _, k := range testenv.ResultKeys(all) {
		r, _, err := kv.Get[kv.Result](ctx, b, k)
		if err == nil {
			out[r.Worker]++
		}
	}
	return out
}

// scrape reads a worker's metrics endpoint and sums the samples of the
// named metric whose labels include every one of match (`step="X"`).
func scrape(t testing.TB, addr, metric string, match ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// closedRuns counts the runs whose closing event was published since it
// was called, from the live status subjects: no polling, so a test that
// must act while runs remain acts as soon as enough are over.
func (e *engine) closedRuns(t testing.TB) func() int {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	names := wire.NewNames("jetflow")
	for _, ev := range wire.ClosingEvents {
		sub, err := e.nc.Subscribe(names.StatusSubject("*", "*", ev), func(m *nats.Msg) {
			mu.Lock()
			seen[m.Subject] = true
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
}

func natsConnect(url string) (*nats.Conn, error) {
	return nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
}

// waitStreamLeaders waits until every stream (and bucket) has a leader.
func (e *engine) waitStreamLeaders(t testing.TB, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		var missing []string
		names := e.js.StreamNames(ctx)
		for name := range names.Name() {
			st, err := e.js.Stream(ctx, name)
			if err != nil {
				missing = append(missing, name+": "+err.Error())
				continue
			}
			info, err := st.Info(ctx)
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
				missing = append(missing, name)
			}
		}
		if names.Err() == nil && len(missing) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("streams without a leader after %s: %v (%v)", d, missing, names.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
