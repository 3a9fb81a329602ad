package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The roles of `jetflow permissions`, on a real nats-server whose users
// have exactly the generated lists (included into the config as the
// README shows): what each role can do, end to end, and what it cannot.

// roleConfig writes a nats-server config with one user per role, each with
// the permissions `jetflow permissions ROLE` prints (in its own file,
// included), and returns the config's path and the users' passwords.
// listen is the config's listen line; perms overrides a role's
// permissions block (the old README's lists).
func roleConfig(t testing.TB, listen string, perms map[string]string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	var users strings.Builder
	pass := map[string]string{}
	for _, role := range wire.Roles {
		body, ok := perms[role]
		if !ok {
			p, err := wire.NewNames("").Permissions(role, wire.PermissionOptions{ExtraBuckets: []string{ledgerBucket("jetflow")}})
			if err != nil {
				t.Fatal(err)
			}
			body = p.Conf()
		}
		file := role + ".conf"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		pass[role] = randomSecret(t)
		fmt.Fprintf(&users, "    { user: %q, password: %q, permissions: { include %q } }\n", role, pass[role], file)
	}
	conf := fmt.Sprintf("listen: %q\njetstream { store_dir: %q }\nauthorization {\n  users = [\n%s  ]\n}\n",
		listen, filepath.Join(dir, "store"), users.String())
	path := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pass
}

func randomSecret(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// roleServer is an embedded server on a free loopback port whose users are
// the roles.
type roleServer struct {
	t    testing.TB
	url  string
	pass map[string]string
}

func startRoleServer(t testing.TB, perms map[string]string) *roleServer {
	t.Helper()
	conf, pass := roleConfig(t, "127.0.0.1:-1", perms)
	srv, err := embedded.Start(embedded.Options{ConfigFile: conf})
	if err != nil {
		t.Fatalf("starting a server with the roles' config: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return &roleServer{t: t, url: srv.ClientURL(), pass: pass}
}

// roleConn is one user's connection and the permission violations the
// server reported to it.
type roleConn struct {
	*nats.Conn
	violations chan error
	count      atomic.Int64
}

func (s *roleServer) connect(role string) *roleConn {
	s.t.Helper()
	rc := &roleConn{violations: make(chan error, 1024)}
	nc, err := nats.Connect(s.url, nats.UserInfo(role, s.pass[role]), nats.Name("roles-test "+role),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				rc.count.Add(1)
				select {
				case rc.violations <- err:
				default:
				}
			}
		}))
	if err != nil {
		s.t.Fatalf("connecting as %s: %v", role, err)
	}
	s.t.Cleanup(nc.Close)
	rc.Conn = nc
	return rc
}

// noViolations fails the test when the server refused anything of rc's:
// a refused fire-and-forget publish (an event) fails nothing else.
func (rc *roleConn) noViolations(t testing.TB, role string) {
	t.Helper()
	if err := rc.Flush(); err != nil {
		t.Fatalf("%s: flush: %v", role, err)
	}
	if n := rc.count.Load(); n > 0 {
		t.Errorf("%s: the server refused %d operations of this role, first: %v", role, n, <-rc.violations)
	}
}

// firstViolation is the first refusal reported to rc, or nil.
func (rc *roleConn) firstViolation() error {
	_ = rc.Flush()
	select {
	case err := <-rc.violations:
		return err
	default:
		return nil
	}
}

func roleJS(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// startRoleWorkers runs two workers of the demo, as the worker user, with
// everything that makes them use their permissions: a run cache of one (runs
// are rebuilt from their history), a short retention (closed runs are
// purged), wake-ups between the two.
func startRoleWorkers(t *testing.T, s *roleServer, svc *demo.Services, retention time.Duration, rebuilt *atomic.Int64) []*roleConn {
	t.Helper()
	var conns []*roleConn
	for i := range 2 {
		rc := s.connect(wire.RoleWorker)
		ctx := testenv.Context(t, 30*time.Second)
		w, err := workflow.NewWorker(ctx, rc.Conn, workflow.WithLogger(quietLog()), workflow.WithName(fmt.Sprintf("rw-%d", i+1)),
			workflow.WithCacheSize(1), workflow.WithRetention(retention), workflow.WithAckWait(2*time.Second))
		if err != nil {
			t.Fatalf("worker %d as the worker role: %v (refused: %v)", i+1, err, rc.firstViolation())
		}
		w.Hooks.RunRebuilt = func(string) { rebuilt.Add(1) }
		if err := demo.Register(w, svc, demo.Selection{}); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(runCtx) }()
		t.Cleanup(func() { cancel(); <-done })
		conns = append(conns, rc)
	}
	return conns
}

// Acceptance 4, what the roles can do: the demo's scenarios and a batch of
// random orders run end to end with workers of the worker role and a client
// of the client role, and a watcher follows a run's events and reads its
// record, history and the breakers; none of them is refused anything. The
// worker role also parks a poison message and purges closed runs.
func TestRolesRunOrdersEndToEnd(t *testing.T) {
	s := startRoleServer(t, nil)
	ctx := testenv.Context(t, 120*time.Second)
	svc := demo.NewServices(nil)
	var rebuilt atomic.Int64
	workers := startRoleWorkers(t, s, svc, 3*time.Second, &rebuilt)

	client := s.connect(wire.RoleClient)
	c, err := workflow.NewClient(ctx, client.Conn)
	if err != nil {
		t.Fatalf("client role: %v", err)
	}
	env := &demo.Env{Client: c, Services: svc, NC: client.Conn, IDPrefix: "roles", RunTimeout: 30 * time.Second}
	for _, sc := range demo.Scenarios() {
		if r := sc.Run(ctx, env); !r.OK {
			t.Errorf("scenario %s with the worker and client roles: %s, problems %v", sc.Name, r.Status, r.Problems)
		}
	}
	if rep, err := env.RunOrders(ctx, 24, demo.OrdersOptions{Seed: 7, Concurrency: 8}); err != nil || len(rep.Unexpected) > 0 {
		t.Errorf("random orders with the worker and client roles: %v, %v", err, rep.Unexpected)
	}
	if rebuilt.Load() == 0 {
		t.Errorf("no run was rebuilt from its history: the workers' history reads went untested")
	}
	// A run of a workflow type no worker serves: the client notes it in
	// the record and says so on the status subject.
	if err := c.StartRaw(ctx, "Unserved", "roles-unserved", []byte{0xc0}); err != nil {
		t.Fatalf("start of an unserved workflow type: %v", err)
	}

	// The watcher: follows a new run's events as they happen, then reads
	// its record, history and the shared breakers.
	watcher := s.connect(wire.RoleWatcher)
	wc, err := workflow.NewClient(ctx, watcher.Conn)
	if err != nil {
		t.Fatalf("watcher role: %v", err)
	}
	events := make(chan *nats.Msg, 64)
	sub, err := watcher.ChanSubscribe("jetflow.status.OrderOrchestration.roles-watched.*", events)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Start(ctx, c, demo.OrderOrchestration, "roles-watched", demo.NewOrder("roles-watched", "u-1")); err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		select {
		case m := <-events:
			done = strings.HasSuffix(m.Subject, "."+wire.EventCompleted)
		case <-ctx.Done():
			t.Fatal("the watcher did not see the run complete")
		}
	}
	run, err := wc.Wait(ctx, "roles-watched")
	if err != nil || run.Status != kv.StatusCompleted {
		t.Fatalf("watcher reading the record: %s, %v; want completed", run.Status, err)
	}
	hist, err := wc.History(ctx, "roles-watched")
	if err != nil || len(hist) < 5 {
		t.Fatalf("watcher reading the history: %d entries, %v; want the five steps", len(hist), err)
	}
	if br, err := wc.Breakers(ctx); err != nil || len(br) == 0 {
		t.Fatalf("watcher reading the breakers: %v, %v; want payment-primary", br, err)
	}

	// The admin publishes a poison step task; a worker parks it.
	admin := s.connect(wire.RoleAdmin)
	ajs := roleJS(t, admin.Conn)
	if _, err := ajs.Publish(ctx, "jetflow.step.ValidateOrder", []byte("\xc1 not msgpack")); err != nil {
		t.Fatal(err)
	}
	dlq, err := ajs.Stream(ctx, "JETFLOW_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "the poison message parked", func() bool {
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
	// Retention: the first scenario's run is purged by a worker.
	waitUntil(t, ctx, "a closed run purged", func() bool {
		_, err := wc.Describe(ctx, "roles-happy_path")
		return errors.Is(err, workflow.ErrNotFound)
	})

	for i, w := range workers {
		w.noViolations(t, fmt.Sprintf("worker %d", i+1))
	}
	client.noViolations(t, wire.RoleClient)
	watcher.noViolations(t, wire.RoleWatcher)
}

func waitUntil(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// attack is something a role must not be able to do, and how to tell that
// it did not happen.
type attack struct {
	name string
	// only names the role that must be refused, when not every reader.
	only string
	// do tries it over the role's connection. It fails or never returns
	// (a refused request is not answered) until ctx ends.
	do func(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error
	// harmless checks, as the admin, that nothing changed.
	harmless func(ctx context.Context, t *testing.T)
}

// refused runs a, over a fresh connection of role, and checks that the
// server refused it (a permission violation reported to the connection)
// and that it changed nothing.
func (s *roleServer) refused(t *testing.T, role string, a attack) {
	t.Helper()
	rc := s.connect(role)
	ctx := testenv.Context(t, 30*time.Second)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.do(actx, rc.Conn, js) }()
	select {
	case <-rc.violations:
		// Refused: the request (if any) will never be answered.
		cancel()
		if err := <-done; err == nil {
			t.Errorf("%s as %s: the server refused it, but the call reported success", a.name, role)
		}
	case err := <-done:
		t.Fatalf("%s as %s: allowed (result %v), want a permissions violation", a.name, role, err)
	case <-ctx.Done():
		t.Fatalf("%s as %s: neither refused nor done", a.name, role)
	}
	a.harmless(ctx, t)
}

// seeded sets up the namespace and one finished run, as the admin, for the
// attacks to aim at: a record, step results, events.
func (s *roleServer) seeded(t *testing.T) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	ctx := testenv.Context(t, 60*time.Second)
	admin := s.connect(wire.RoleAdmin)
	var rebuilt atomic.Int64
	// No purge may fire during the attacks: it would add to the task stream.
	startRoleWorkers(t, s, demo.NewServices(nil), time.Hour, &rebuilt)
	c, err := workflow.NewClient(ctx, s.connect(wire.RoleClient).Conn)
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, c, demo.OrderOrchestration, "target", demo.NewOrder("target", "u-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	js := roleJS(t, admin.Conn)
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	return js, runs
}

// readerAttacks are what the readers must fail at, with the checks that
// they did. lastTaskSeq is the task stream's last sequence before them: a
// refused publish stores nothing.
func readerAttacks(js jetstream.JetStream, runs jetstream.KeyValue, lastTaskSeq uint64) []attack {
	streamKept := func(name string) func(ctx context.Context, t *testing.T) {
		return func(ctx context.Context, t *testing.T) {
			t.Helper()
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s after the attack: %v", name, err)
			}
			info, err := st.Info(ctx)
			if err != nil || info.State.Msgs == 0 {
				t.Fatalf("stream %s after the attack: %v; want its messages kept", name, err)
			}
		}
	}
	recordThere := func(ctx context.Context, t *testing.T) {
		t.Helper()
		if e, err := runs.Get(ctx, "target"); err != nil || e.Operation() != jetstream.KeyValuePut {
			t.Fatalf("the run record after the attack: %v; want it there", err)
		}
	}
	noTask := func(ctx context.Context, t *testing.T) {
		t.Helper()
		st, err := js.Stream(ctx, "JETFLOW_TASKS")
		if err != nil {
			t.Fatalf("task stream after the attack: %v", err)
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.LastSeq != lastTaskSeq {
			t.Fatalf("task stream after the attack: %v, last sequence %d; want %d: nothing stored", err, info.State.LastSeq, lastTaskSeq)
		}
	}
	noStream := func(name string) func(ctx context.Context, t *testing.T) {
		return func(ctx context.Context, t *testing.T) {
			t.Helper()
			// The admin may list streams, not look into other ones.
			names := js.StreamNames(ctx)
			for n := range names.Name() {
				if n == name {
					t.Fatalf("stream %s after the attack: there; want none", name)
				}
			}
			if err := names.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	noKey := func(bucket, key string) func(ctx context.Context, t *testing.T) {
		return func(ctx context.Context, t *testing.T) {
			t.Helper()
			b, err := js.KeyValue(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Fatalf("%s %s after the attack: %v; want nothing written", bucket, key, err)
			}
		}
	}
	forged, _ := kv.Marshal(wire.WorkflowTask{WorkflowID: "target", Workflow: "OrderOrchestration", Reason: wire.ReasonResult, Seq: 3})
	stream := func(ctx context.Context, js jetstream.JetStream, name string, act func(jetstream.Stream) error) error {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		return act(st)
	}
	bucket := func(ctx context.Context, js jetstream.JetStream, name string, act func(jetstream.KeyValue) error) error {
		b, err := js.KeyValue(ctx, name)
		if err != nil {
			return err
		}
		return act(b)
	}
	return []attack{
		{name: "delete the task stream", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return rjs.DeleteStream(ctx, "JETFLOW_TASKS")
		}, harmless: noTask},
		{name: "delete the runs bucket", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return rjs.DeleteKeyValue(ctx, "jetflow_runs")
		}, harmless: recordThere},
		{name: "purge the event stream", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return stream(ctx, rjs, "JETFLOW_EVENTS", func(st jetstream.Stream) error { return st.Purge(ctx) })
		}, harmless: streamKept("JETFLOW_EVENTS")},
		{name: "purge the steps bucket", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return stream(ctx, rjs, "KV_jetflow_steps", func(st jetstream.Stream) error { return st.Purge(ctx) })
		}, harmless: streamKept("KV_jetflow_steps")},
		{name: "delete a run record", only: wire.RoleWatcher, do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return bucket(ctx, rjs, "jetflow_runs", func(b jetstream.KeyValue) error { return b.Delete(ctx, "target") })
		}, harmless: recordThere},
		{name: "create a bucket", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			_, err := rjs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "jetflow_runs_2"})
			return err
		}, harmless: noStream("KV_jetflow_runs_2")},
		{name: "lift the event stream's limits", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return stream(ctx, rjs, "JETFLOW_EVENTS", func(st jetstream.Stream) error {
				cfg := st.CachedInfo().Config
				cfg.MaxBytes, cfg.MaxAge = -1, 0
				_, err := rjs.UpdateStream(ctx, cfg)
				return err
			})
		}, harmless: func(ctx context.Context, t *testing.T) {
			t.Helper()
			st, err := js.Stream(ctx, "JETFLOW_EVENTS")
			if err != nil || st.CachedInfo().Config.MaxBytes != workflow.DefaultEventsMaxBytes {
				t.Fatalf("event stream after the attack: %v; want its limits kept", err)
			}
		}},
		{name: "publish a workflow task", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			_, err := rjs.Publish(ctx, "jetflow.wf.OrderOrchestration", forged)
			return err
		}, harmless: noTask},
		{name: "publish a step task", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			_, err := rjs.Publish(ctx, "jetflow.step.CreateShipment", forged)
			return err
		}, harmless: noTask},
		{name: "take tasks with a consumer of its own", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			_, err := rjs.CreateConsumer(ctx, "JETFLOW_TASKS", jetstream.ConsumerConfig{FilterSubject: "jetflow.step.>"})
			return err
		}, harmless: func(ctx context.Context, t *testing.T) {
			t.Helper()
			st, err := js.Stream(ctx, "JETFLOW_TASKS")
			if err != nil {
				t.Fatal(err)
			}
			for name := range st.ConsumerNames(ctx).Name() {
				if !strings.HasPrefix(name, "wf_") && !strings.HasPrefix(name, "step_") {
					t.Fatalf("task stream has consumer %s after the attack; want the workers' only", name)
				}
			}
		}},
		{name: "write a step result", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return bucket(ctx, rjs, "jetflow_steps", func(b jetstream.KeyValue) error {
				_, err := b.Create(ctx, "target.99", []byte("forged"))
				return err
			})
		}, harmless: noKey("jetflow_steps", "target.99")},
		{name: "write a breaker", do: func(ctx context.Context, _ *nats.Conn, rjs jetstream.JetStream) error {
			return bucket(ctx, rjs, "jetflow_breakers", func(b jetstream.KeyValue) error {
				_, err := b.Put(ctx, "forged-breaker", []byte(`{"state":"open"}`))
				return err
			})
		}, harmless: noKey("jetflow_breakers", "forged-breaker")},
		{name: "start a run", only: wire.RoleWatcher, do: func(ctx context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
			c, err := workflow.NewClient(ctx, nc)
			if err != nil {
				return err
			}
			_, err = workflow.Start(ctx, c, demo.OrderOrchestration, "watcher-started", demo.NewOrder("watcher-started", "u-1"))
			return err
		}, harmless: noKey("jetflow_runs", "watcher-started")},
	}
}

// Acceptance 4, what the readers cannot do: neither the watcher nor the
// client can delete or purge a stream or bucket, create a bucket, lift a
// limit, publish a workflow or step task, take tasks, write a step result
// or a breaker; the watcher cannot delete a record or start a run either.
func TestRolesReadersAreRefused(t *testing.T) {
	s := startRoleServer(t, nil)
	js, runs := s.seeded(t)
	ctx := testenv.Context(t, 30*time.Second)
	st, err := js.Stream(ctx, "JETFLOW_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{wire.RoleWatcher, wire.RoleClient} {
		for _, a := range readerAttacks(js, runs, info.State.LastSeq) {
			if a.only != "" && a.only != role {
				continue
			}
			t.Run(role+"/"+strings.ReplaceAll(a.name, " ", "_"), func(t *testing.T) {
				s.refused(t, role, a)
			})
		}
	}
}

// The attacks above are not refused by chance: with the README's old
// permissions (the "watch-only" user had "$JS.API.>" and "_INBOX.>"), the
// watcher deletes the task stream and the runs bucket, the incident of
// issue 14.
func TestRolesOldWatchOnlyPermissionsDoNotHold(t *testing.T) {
	old := "publish: { allow: [\"$JS.API.>\"] }\nsubscribe: { allow: [\"_INBOX.>\", \"jetflow.status.>\"] }\n"
	s := startRoleServer(t, map[string]string{wire.RoleWatcher: old})
	js, _ := s.seeded(t)
	ctx := testenv.Context(t, 30*time.Second)
	rc := s.connect(wire.RoleWatcher)
	wjs := roleJS(t, rc.Conn)
	if err := wjs.DeleteKeyValue(ctx, "jetflow_runs"); err != nil {
		t.Fatalf("old watch-only permissions: deleting the runs bucket failed (%v); the attack harness would not tell", err)
	}
	if err := wjs.DeleteStream(ctx, "JETFLOW_TASKS"); err != nil {
		t.Fatalf("old watch-only permissions: deleting the task stream failed (%v)", err)
	}
	if _, err := js.Stream(ctx, "JETFLOW_TASKS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("task stream: %v, want deleted", err)
	}
	// And, since clients create nothing any more, the next client says the
	// deployment is missing instead of re-creating an empty bucket.
	if _, err := workflow.NewClient(ctx, rc.Conn); !errors.Is(err, workflow.ErrNotDeployed) {
		t.Fatalf("client after the deletion: got %v, want ErrNotDeployed", err)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The README's flow with roles, on real processes: `jetflow permissions`
// writes each role's list, `jetflow server --config` runs with them (and,
// its users unknown to it, sets nothing up), a watcher is told the
// deployment is missing, the admin runs `jetflow init`, a worker process
// of the worker role serves, a client starts an order and waits for it, a
// watcher reads it every way the CLI offers, and neither reader may do
// what its role does not allow.
func TestRolesCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	perms := map[string]string{}
	for _, role := range wire.Roles {
		out, errOut, code := cli(t, 20*time.Second, "permissions", role, "--demo")
		if code != 0 {
			t.Fatalf("permissions %s: exit %d: %s", role, code, errOut)
		}
		perms[role] = out
	}
	port := freePort(t)
	conf, pass := roleConfig(t, fmt.Sprintf("127.0.0.1:%d", port), perms)
	server := jetflow(t, "server", "--config", conf, "--quiet")
	url := waitOutput(t, server, readyRE, 20*time.Second)[1]
	as := func(role string, args ...string) []string {
		return append(args, "--nats", url, "--user", role, "--password", pass[role])
	}

	if _, errOut, code := cli(t, 20*time.Second, as(wire.RoleWatcher, "status", "order-1")...); code != 1 ||
		!strings.Contains(errOut, "no worker has set up this deployment (prefix jetflow)") {
		t.Fatalf("status before any worker: exit %d, %q; want 1, saying the deployment is missing", code, errOut)
	}
	if out, errOut, code := cli(t, 20*time.Second, as(wire.RoleAdmin, "init")...); code != 0 || !strings.Contains(out, "JETFLOW_TASKS") {
		t.Fatalf("init as admin: exit %d: %s%s", code, out, errOut)
	}
	worker := startWorker(t, url, "w-roles", "--user", wire.RoleWorker, "--password", pass[wire.RoleWorker])

	in := `{"order_id":"cli-roles","user_id":"u-1","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"1 Test Street"}`
	if out, errOut, code := cli(t, 30*time.Second, as(wire.RoleClient, "start", "OrderOrchestration", "--id", "cli-roles", "--input", in, "--wait")...); code != 0 ||
		!strings.Contains(out, `"status": "completed"`) {
		t.Fatalf("start --wait as client: exit %d: %s%s", code, out, errOut)
	}
	// An order whose primary payment channel is down gives the shared
	// breaker a record (retries, then the fallback channel).
	down := strings.TrimSuffix(strings.Replace(in, "cli-roles", "cli-roles-down", 1), "}") + `,"faults":["` + demo.FaultPrimaryDown + `"]}`
	if out, errOut, code := cli(t, 30*time.Second, as(wire.RoleClient, "start", "OrderOrchestration", "--id", "cli-roles-down", "--input", down, "--wait")...); code != 0 ||
		!strings.Contains(out, `"transaction_id": "TXN-F-`) {
		t.Fatalf("start --wait as client, primary channel down: exit %d: %s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "cli-roles"}, "completed"},
		{[]string{"result", "cli-roles"}, `"shipment_id": "SHP-`},
		{[]string{"history", "cli-roles"}, "SendNotification"},
		{[]string{"watch", "cli-roles"}, "completed"},
		{[]string{"list"}, "cli-roles"},
		{[]string{"breakers"}, demo.PrimaryBreakerName},
	} {
		if out, errOut, code := cli(t, 20*time.Second, as(wire.RoleWatcher, tc.args...)...); code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s as watcher: exit %d, want 0 and %q:\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errOut)
		}
	}
	// A schedule, created and paused by a client, ticked by the worker role
	// (which arms the wake-ups), read by a watcher.
	sched := strings.Replace(in, "cli-roles", "cli-roles-sched", 1)
	if out, errOut, code := cli(t, 20*time.Second, as(wire.RoleClient, "schedule", "create", "roles-every", "--workflow", "OrderOrchestration", "--cron", "@every 1s", "--input", sched)...); code != 0 {
		t.Fatalf("schedule create as client: exit %d: %s%s", code, out, errOut)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, _, _ := cli(t, 20*time.Second, as(wire.RoleWatcher, "schedule", "describe", "roles-every", "--json")...)
		var d struct {
			Recent []struct{ Status string } `json:"recent_runs"`
		}
		_ = json.Unmarshal([]byte(out), &d)
		if len(d.Recent) >= 2 && d.Recent[len(d.Recent)-1].Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule did not start two runs that completed:\n%s\nworker:\n%s", out, worker.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, _, code := cli(t, 20*time.Second, as(wire.RoleWatcher, "schedule", "pause", "roles-every", "--timeout", "2s")...); code == 0 {
		t.Errorf("schedule pause as watcher: exit 0, want refused")
	}
	if out, errOut, code := cli(t, 20*time.Second, as(wire.RoleClient, "schedule", "pause", "roles-every")...); code != 0 {
		t.Errorf("schedule pause as client: exit %d: %s%s", code, out, errOut)
	}

	// What the roles may not do fails (a refused request is never answered:
	// --timeout bounds the wait) and changes nothing.
	if _, _, code := cli(t, 20*time.Second, as(wire.RoleWatcher, "start", "OrderOrchestration", "--id", "by-watcher", "--input", in, "--timeout", "2s")...); code == 0 {
		t.Errorf("start as watcher: exit 0, want refused")
	}
	if _, _, code := cli(t, 20*time.Second, as(wire.RoleClient, "breakers", "reset", demo.PrimaryBreakerName, "--timeout", "2s")...); code == 0 {
		t.Errorf("breakers reset as client: exit 0, want refused (an admin's job)")
	}
	if _, _, code := cli(t, 20*time.Second, as(wire.RoleClient, "init", "--timeout", "2s")...); code == 0 {
		t.Errorf("init as client: exit 0, want refused")
	}
	if out, errOut, code := cli(t, 20*time.Second, as(wire.RoleAdmin, "breakers", "reset", demo.PrimaryBreakerName)...); code != 0 {
		t.Errorf("breakers reset as admin: exit %d: %s%s", code, out, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, as(wire.RoleWatcher, "status", "by-watcher")...); code != 1 || !strings.Contains(errOut, `no run with ID "by-watcher"`) {
		t.Errorf("status of the run the watcher tried to start: exit %d, %q; want no such run", code, errOut)
	}
	if strings.Contains(strings.ToLower(worker.Output()), "permissions violation") {
		t.Errorf("the worker role was refused something:\n%s", worker.Output())
	}
}

// What subject permissions cannot stop, pinned so that the README's threat
// model stays true: a JetStream API request is answered on whatever reply
// subject it names, and the server does not check that subject against the
// requester's permissions. So a watcher, allowed only to read, copies a
// stored step result of one run onto the result key of another (a key it
// may not publish on) by naming that key as the reply subject of a direct
// get, and overwrites a run record with a stream info response; a client
// could do the same with bytes of its own choosing (a run record's). Inside one account the roles stop mistakes and direct writes;
// the boundary against a hostile reader is the account. If nats-server
// starts checking reply subjects, this test fails: update the README.
func TestRolesOneAccountReplySubjectLimit(t *testing.T) {
	s := startRoleServer(t, nil)
	js, _ := s.seeded(t)
	ctx := testenv.Context(t, 30*time.Second)
	steps, err := js.KeyValue(ctx, "jetflow_steps")
	if err != nil {
		t.Fatal(err)
	}
	// Results live under the run's incarnation: <id>.<inc>.<seq>.
	runsKV, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kv.Get[kv.Run](ctx, runsKV, "target")
	if err != nil {
		t.Fatal(err)
	}
	srcKey := kv.StepKey(kv.ExecKey("target", rec.Inc, 1), 3)
	dstKey := kv.StepKey(kv.ExecKey("victim", "iguessed", 1), 3)
	src, err := steps.Get(ctx, srcKey)
	if err != nil {
		t.Fatalf("the seeded run's payment result: %v", err)
	}
	watcher := s.connect(wire.RoleWatcher)
	if err := watcher.PublishMsg(&nats.Msg{Subject: "$JS.API.DIRECT.GET.KV_jetflow_steps.$KV.jetflow_steps." + srcKey, Reply: "$KV.jetflow_steps." + dstKey}); err != nil {
		t.Fatal(err)
	}
	watcher.noViolations(t, wire.RoleWatcher)
	var got jetstream.KeyValueEntry
	waitUntil(t, ctx, "the copied result", func() bool {
		got, err = steps.Get(ctx, dstKey)
		return err == nil
	})
	if string(got.Value()) != string(src.Value()) {
		t.Fatalf("%s holds %q, want the copy of %s", dstKey, got.Value(), srcKey)
	}
	// And an API response lands on a run record, overwriting it.
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	before, err := runs.Get(ctx, "target")
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.PublishMsg(&nats.Msg{Subject: "$JS.API.STREAM.INFO.JETFLOW_EVENTS", Reply: "$KV.jetflow_runs.target"}); err != nil {
		t.Fatal(err)
	}
	watcher.noViolations(t, wire.RoleWatcher)
	waitUntil(t, ctx, "the overwritten record", func() bool {
		e, err := runs.Get(ctx, "target")
		return err == nil && e.Revision() > before.Revision()
	})
}

// `jetflow permissions worker --no-setup`: a worker that may not create or
// change streams and buckets is refused on a namespace nobody set up, and
// runs orders once the admin has (with the same limits).
func TestRolesWorkerWithoutSetupRights(t *testing.T) {
	p, err := wire.NewNames("").Permissions(wire.RoleWorker, wire.PermissionOptions{NoSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	s := startRoleServer(t, map[string]string{wire.RoleWorker: p.Conf()})
	ctx := testenv.Context(t, 60*time.Second)
	s.refused(t, wire.RoleWorker, attack{name: "set the namespace up",
		do: func(ctx context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
			_, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quietLog()))
			return err
		},
		harmless: func(ctx context.Context, t *testing.T) {
			t.Helper()
			if _, err := roleJS(t, s.connect(wire.RoleAdmin).Conn).Stream(ctx, "JETFLOW_TASKS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("task stream after the refused setup: %v; want none", err)
			}
		}})

	if _, err := workflow.Deploy(ctx, s.connect(wire.RoleAdmin).Conn); err != nil {
		t.Fatalf("Deploy as admin: %v", err)
	}
	var rebuilt atomic.Int64
	workers := startRoleWorkers(t, s, demo.NewServices(nil), time.Hour, &rebuilt)
	client := s.connect(wire.RoleClient)
	c, err := workflow.NewClient(ctx, client.Conn)
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, c, demo.OrderOrchestration, "no-setup", demo.NewOrder("no-setup", "u-1"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run.Result(ctx); err != nil || out.Status != demo.StatusCompleted {
		t.Fatalf("order with workers without setup rights: %+v, %v", out, err)
	}
	for i, w := range workers {
		w.noViolations(t, fmt.Sprintf("worker %d", i+1))
	}
	client.noViolations(t, wire.RoleClient)
}

// Issue 14's incident, with the commands it used: a watcher's `nats stream
// rm JETFLOW_TASKS` and `nats kv del jetflow_runs` fail and leave both, while
// `nats kv get` and `nats stream info` still work for it.
func TestRolesWatcherWithTheNATSCLI(t *testing.T) {
	natsCLI := testenv.NATSCLI(t)
	s := startRoleServer(t, nil)
	js, runs := s.seeded(t)
	ctx := testenv.Context(t, 60*time.Second)
	env := testenv.CleanEnv(t.TempDir())
	nats := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, natsCLI, append([]string{"--server", s.url, "--user", wire.RoleWatcher, "--password", s.pass[wire.RoleWatcher], "--timeout", "2s"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("nats %s: %v", strings.Join(args, " "), err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	for _, args := range [][]string{{"stream", "rm", "-f", "JETFLOW_TASKS"}, {"kv", "del", "-f", "jetflow_runs", "target"}, {"kv", "add", "jetflow_runs_2"}} {
		if out, code := nats(args...); code == 0 {
			t.Errorf("nats %s as watcher: exit 0, want refused:\n%s", strings.Join(args, " "), out)
		} else {
			t.Logf("nats %s: %s", strings.Join(args, " "), out)
		}
	}
	for _, args := range [][]string{{"kv", "get", "jetflow_runs", "target", "--raw"}, {"stream", "info", "JETFLOW_EVENTS"}} {
		if out, code := nats(args...); code != 0 {
			t.Errorf("nats %s as watcher: exit %d, want 0:\n%s", strings.Join(args, " "), code, out)
		}
	}
	if _, err := js.Stream(ctx, "JETFLOW_TASKS"); err != nil {
		t.Errorf("task stream after the watcher's nats stream rm: %v", err)
	}
	if _, err := runs.Get(ctx, "target"); err != nil {
		t.Errorf("run record after the watcher's nats kv del: %v", err)
	}
}
