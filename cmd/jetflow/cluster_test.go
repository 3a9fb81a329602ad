package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// Acceptance 2: three `jetflow server` processes form a cluster, streams and
// buckets have three replicas, 200 orders run on two workers, and the server
// that leads the task stream is SIGKILLed during the run: all 200 complete.
func TestAcceptanceClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const n = 3
	names := make([]string, n)
	clientPorts, routePorts := make([]int, n), make([]int, n)
	for i := range n {
		names[i] = fmt.Sprintf("n%d", i+1)
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	servers := map[string]*testenv.Process{}
	var urls []string
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[j]))
			}
		}
		servers[names[i]] = jetflow(t, "server", "--name", names[i], "--cluster-name", "jf-test",
			"--listen", fmt.Sprintf("127.0.0.1:%d", clientPorts[i]), "--data", t.TempDir(), "--quiet",
			"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", routePorts[i]), "--routes", strings.Join(routes, ","))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	for _, name := range names {
		waitOutput(t, servers[name], readyRE, 20*time.Second)
	}
	url := strings.Join(urls, ",")
	e := connectEngineWhenReady(t, url, 30*time.Second, workflow.WithReplicas(3))

	for i := range 2 {
		startWorker(t, url, fmt.Sprintf("w-%d", i+1), "--replicas", "3", "--latency", "20ms", "--concurrency", "2")
	}
	e.waitStreamLeaders(t, 20*time.Second)
	ords := orders("a2", 200)
	closed := e.closedRuns(t)
	start := time.Now()
	e.startAll(t, ords)

	// Kill as soon as 20 runs are over; counting them from the closing
	// events (not by reading 200 runs) leaves most of the runs to go.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := 0
	for done < 20 {
		if ctx.Err() != nil {
			t.Fatal("fewer than 20 runs over after 20s")
		}
		time.Sleep(5 * time.Millisecond)
		done = closed()
	}
	if done == len(ords) {
		t.Fatal("every run was over before the kill")
	}
	st, err := e.js.Stream(ctx, wire.NewNames("jetflow").TaskStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("task stream: %d replicas, cluster %+v; want 3", info.Config.Replicas, info.Cluster)
	}
	leader := info.Cluster.Leader
	victim, ok := servers[leader]
	if !ok {
		t.Fatalf("task stream leader %q is none of %v", leader, names)
	}
	sendSignal(t, victim, syscall.SIGKILL)
	waitExit(t, victim, 10*time.Second)
	t.Logf("killed %s, the task stream's leader, %s after the start with %d of %d runs over", leader, time.Since(start).Round(time.Millisecond), done, len(ords))

	e.waitDone(t, ords, 60*time.Second)
	t.Logf("%d runs done in %s", len(ords), time.Since(start).Round(time.Millisecond))
	if info, err := st.Info(context.Background()); err == nil && info.Cluster != nil {
		t.Logf("task stream leader now %s", info.Cluster.Leader)
	}
	e.checkOnce(t, ords)
}

// connectEngineWhenReady sets the namespace up and connects once the
// cluster's JetStream can place the engine's streams (a fresh cluster
// elects its meta leader and learns its peers first).
func connectEngineWhenReady(t testing.TB, url string, d time.Duration, opts ...workflow.Option) *engine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		e, err := tryEngine(url, opts...)
		if err == nil {
			t.Cleanup(e.nc.Close)
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream of %s not ready within %s: %v", url, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tryEngine(url string, opts ...workflow.Option) (*engine, error) {
	nc, err := natsConnect(url)
	if err != nil {
		return nil, err
	}
	e := &engine{nc: nc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e.js, err = jetstream.New(nc); err == nil {
		// As an administrator would (`jetflow init --replicas 3`): a
		// cluster's servers set no namespace up, and clients create nothing.
		if _, err = workflow.Deploy(ctx, nc, opts...); err == nil {
			e.client, err = workflow.NewClient(ctx, nc, opts...)
		}
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return e, nil
}
