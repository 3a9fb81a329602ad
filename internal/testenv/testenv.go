// Package testenv starts a real JetStream for tests: the in-process server of
// package embedded on a temporary store, with a restart helper.
package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/nats-io/nats.go"
)

// Server is a test's JetStream server.
type Server struct {
	*embedded.Server
	t testing.TB
}

// Start starts an in-process server without a listener (in-process
// connections only) or, with listen, on a free loopback port, and sets the
// default namespace up on it, as `jetflow server` does: a client may come
// before any worker.
func Start(t testing.TB, listen bool) *Server {
	t.Helper()
	s := StartBare(t, listen)
	nc := s.Conn()
	defer nc.Close()
	if _, err := wire.Setup(Context(t, 30*time.Second), nc, wire.Config{}); err != nil {
		t.Fatalf("setting up the default namespace: %v", err)
	}
	return s
}

// StartBare is Start without the namespace: no stream, no bucket.
func StartBare(t testing.TB, listen bool) *Server {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), DontListen: !listen, RandomPort: true})
	if err != nil {
		t.Fatalf("starting embedded server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return &Server{Server: srv, t: t}
}

// Conn opens a connection closed at the end of the test.
func (s *Server) Conn() *nats.Conn {
	s.t.Helper()
	nc, err := s.Connect()
	if err != nil {
		s.t.Fatalf("connecting: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// Context returns a context canceled at the end of the test, bounded by d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
