package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testStallAfter is the stall watchdog's threshold in these tests: short
// enough that a watchdog recovery is quick, far below the 10 s (two missed
// 5 s heartbeats) after which nats.go itself gives up on a silent pull.
const testStallAfter = 300 * time.Millisecond

func TestMain(m *testing.M) {
	// Set once, before any test starts, rather than per test and restored
	// in t.Cleanup: Consume does not wait for its watchdog goroutine to
	// exit, so a restore would race with a watchdog still reading the
	// variable (the race detector reports it).
	stallAfter = testStallAfter
	os.Exit(m.Run())
}

// startEnv starts an in-process JetStream server (no listener, so no port)
// on a temporary store and sets the engine's streams and buckets up on it.
// The connection and the server are closed at the end of the test.
func startEnv(t *testing.T) *Env {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatalf("starting embedded server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(nc.Close)
	env, err := Setup(testContext(t, 10*time.Second), nc, Config{Prefix: "wt"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return env
}

// testContext returns a context canceled at the end of the test, bounded by d.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond until it holds or d has passed, and reports whether it held.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// publishN publishes "<prefix>0" … "<prefix>n-1" on subj and returns them.
func publishN(t *testing.T, ctx context.Context, env *Env, subj, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		data := fmt.Sprintf("%s%d", prefix, i)
		if err := env.Publish(ctx, subj, "", []byte(data)); err != nil {
			t.Fatalf("publishing %s: %v", data, err)
		}
		out = append(out, data)
	}
	return out
}

// consumerInfo returns the server's current view of a consumer of the task stream.
func consumerInfo(t *testing.T, ctx context.Context, env *Env, name string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := env.JS.Consumer(ctx, env.Names.TaskStream(), name)
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return c.CachedInfo()
}

// syncEvents makes sure every status event env's connection has published
// so far is stored: a stream stores what one connection sends it in order,
// so once a JetStream publish on the event stream is acknowledged, the core
// publishes before it are in.
func syncEvents(t *testing.T, ctx context.Context, env *Env) {
	t.Helper()
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: env.Names.Prefix + ".status.sync.sync.sync", Data: []byte("{}")}); err != nil {
		t.Fatalf("syncing the event stream: %v", err)
	}
}

// backgroundConsume is a Consume running in its own goroutine.
type backgroundConsume struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startConsume runs Consume on env's task stream until stop is called or the
// test ends.
func startConsume(t *testing.T, env *Env, cfg jetstream.ConsumerConfig, slots int, log *slog.Logger, handle func(jetstream.Msg)) *backgroundConsume {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &backgroundConsume{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		Consume(ctx, env.JS, env.Names.TaskStream(), cfg, slots, log, handle)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels Consume and waits for it to return.
func (c *backgroundConsume) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Errorf("Consume did not return within 10s of its context being canceled")
	}
}

// returned reports whether Consume has returned.
func (c *backgroundConsume) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// logRecorder is a slog handler that keeps every record, so a test can tell
// which path Consume took.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns how many records at level carry an attribute named key.
func (r *logRecorder) count(level slog.Level, key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level != level {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				n++
				return false
			}
			return true
		})
	}
	return n
}

// discardLog drops every record.
func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// deliveries counts how many times the handler saw each message.
type deliveries struct {
	mu     sync.Mutex
	counts map[string]int
}

func newDeliveries() *deliveries { return &deliveries{counts: map[string]int{}} }

func (d *deliveries) add(data string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counts[data]++
}

// has reports whether every one of want was delivered at least once.
func (d *deliveries) has(want ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range want {
		if d.counts[w] == 0 {
			return false
		}
	}
	return true
}

// snapshot returns a copy of the counts.
func (d *deliveries) snapshot() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.counts))
	for k, v := range d.counts {
		out[k] = v
	}
	return out
}
