package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/nats-io/nats.go/jetstream"
)

// Every case would listen beyond loopback without authentication: Start
// refuses it with a typed error before it binds anything or touches the
// store.
func TestRefusesOpenPorts(t *testing.T) {
	route := "nats-route://127.0.0.1:1"
	for _, tc := range []struct {
		name string
		opts embedded.Options
		want error
	}{
		{"client on every interface", embedded.Options{Host: "0.0.0.0", RandomPort: true}, embedded.ErrInsecureListen},
		{"routes on every interface, empty host", embedded.Options{RandomPort: true, ClusterName: "c", ClusterListen: ":0", Routes: []string{route}}, embedded.ErrInsecureCluster},
		{"routes on 0.0.0.0", embedded.Options{RandomPort: true, ClusterName: "c", ClusterListen: "0.0.0.0:0", Routes: []string{route}}, embedded.ErrInsecureCluster},
		{"routes on [::]", embedded.Options{RandomPort: true, ClusterName: "c", ClusterListen: "[::]:0", Routes: []string{route}}, embedded.ErrInsecureCluster},
		{"client auth does not protect routes", embedded.Options{RandomPort: true, Token: "t", ClusterName: "c", ClusterListen: ":0", Routes: []string{route}}, embedded.ErrInsecureCluster},
		{"monitoring on every interface", embedded.Options{RandomPort: true, HTTPHost: "0.0.0.0", HTTPPort: -1}, embedded.ErrInsecureMonitoring},
		{"client auth does not protect monitoring", embedded.Options{RandomPort: true, Token: "t", HTTPHost: "0.0.0.0", HTTPPort: -1}, embedded.ErrInsecureMonitoring},
		{"cluster without routes", embedded.Options{RandomPort: true, ClusterName: "c"}, embedded.ErrNoRoutes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			tc.opts.StoreDir = dir
			srv, err := embedded.Start(tc.opts)
			if err == nil {
				srv.Shutdown()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused server touched its store: stat %s: %v", dir, err)
			}
		})
	}
}

// The monitoring port stays on loopback when the client port does not, and
// a port alone (no HTTPHost) never follows Host.
func TestMonitoringDefaultsToLoopback(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), RandomPort: true, HTTPPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if a := srv.NATS().MonitorAddr(); a == nil || !a.IP.IsLoopback() {
		t.Fatalf("monitoring on %v, want a loopback address", a)
	}
}

// A config file without a listen line: the server listens on loopback,
// given no Host or an explicit loopback one (which used to be refused as
// non-loopback, naming the loopback address).
func TestConfigWithoutListenLine(t *testing.T) {
	for _, host := range []string{"", "127.0.0.1"} {
		t.Run("host "+host, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "server.conf")
			if err := os.WriteFile(conf, []byte("max_payload: 65536\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			srv, err := embedded.Start(embedded.Options{ConfigFile: conf, StoreDir: filepath.Join(dir, "store"), Host: host, RandomPort: true})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Shutdown()
			if a, ok := srv.NATS().Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
				t.Fatalf("listening on %v, want loopback", srv.NATS().Addr())
			}
		})
	}
}

// Two members with a cluster user and password form a JetStream cluster on
// loopback; a third server without them, routing to the first, is refused:
// it is never one of the first's routes and its clients see none of the
// cluster's streams.
func TestRoutesNeedClusterCredentials(t *testing.T) {
	p1, p2, p3 := freePort(t), freePort(t), freePort(t)
	route := func(p int) string { return fmt.Sprintf("nats-route://127.0.0.1:%d", p) }
	member := func(name string, port int) *embedded.Server {
		t.Helper()
		srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), RandomPort: true, Name: name, ClusterName: "secure",
			ClusterListen: fmt.Sprintf("127.0.0.1:%d", port), Routes: []string{route(p1), route(p2)},
			ClusterUsername: "jetflow", ClusterPassword: "route-s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		return srv
	}
	n1, n2 := member("n1", p1), member("n2", p2)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := jetStream(t, n1)
	for {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateStream(sctx, jetstream.StreamConfig{Name: "RUNS", Subjects: []string{"runs.>"}, Replicas: 2})
		scancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the authenticated cluster never placed a 2-replica stream: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := n2.NATS().NumRoutes(); n == 0 {
		t.Fatal("n2 has no route to n1")
	}

	refused := &authErrorLog{}
	n1.NATS().SetLogger(refused, false, false)
	rogue, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), RandomPort: true, Name: "rogue", ClusterName: "secure",
		ClusterListen: fmt.Sprintf("127.0.0.1:%d", p3), Routes: []string{route(p1)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rogue.Shutdown)
	// The rogue keeps dialling n1, which closes each of its routes as an
	// authentication error. Wait until n1 has refused it twice.
	for refused.count() < 2 {
		if ctx.Err() != nil {
			t.Fatal("n1 never refused the rogue's route")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rz, err := n1.NATS().Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName == "rogue" {
			t.Fatalf("the rogue is a route of n1: %+v", r)
		}
	}
	// The rogue's own count flickers to 1 while a dial waits for n1's
	// refusal; a route that was let in would stay.
	held := 0
	for range 20 {
		if rogue.NATS().NumRoutes() > 0 {
			held++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if held == 20 {
		t.Fatal("the rogue held a route for a whole second")
	}
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := jetStream(t, rogue).Stream(sctx, "RUNS"); err == nil {
		t.Fatal("a client of the rogue sees the cluster's stream")
	}
}

// authErrorLog is a nats-server logger that counts the routes it refused
// for bad credentials (lines "rid:N - authentication error").
type authErrorLog struct{ n atomic.Int64 }

func (l *authErrorLog) count() int64 { return l.n.Load() }

func (l *authErrorLog) Errorf(format string, v ...any) {
	if msg := fmt.Sprintf(format, v...); strings.Contains(msg, "rid:") && strings.Contains(msg, "authentication error") {
		l.n.Add(1)
	}
}
func (l *authErrorLog) Noticef(string, ...any) {}
func (l *authErrorLog) Warnf(string, ...any)   {}
func (l *authErrorLog) Fatalf(string, ...any)  {}
func (l *authErrorLog) Debugf(string, ...any)  {}
func (l *authErrorLog) Tracef(string, ...any)  {}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// jetStream opens a client of srv, closed at the end of the test.
func jetStream(t *testing.T, srv *embedded.Server) jetstream.JetStream {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
