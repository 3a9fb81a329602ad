package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is a running embedded server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	mu   sync.Mutex
	ns   *server.Server
	lock *storeLock
	port int
}

// Start starts a server and waits until it accepts connections.
//
// Start refuses, before opening anything, a port that would listen beyond
// loopback without authentication (ErrInsecureListen, ErrInsecureCluster,
// ErrInsecureMonitoring) and a store directory that another server holds
// (ErrStoreLocked, as a *StoreLockedError naming the directory and the
// holder's PID).
func Start(opts Options) (*Server, error) {
	if opts.StoreDir == "" && opts.ConfigFile == "" {
		return nil, fmt.Errorf("embedded: StoreDir is required")
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	for i, r := range opts.Routes {
		if err := checkRoute(r); err != nil {
			return nil, fmt.Errorf("embedded: route %d of Routes: %w", i+1, err)
		}
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkRoute checks a route URL without ever putting it in an error: it may
// carry a password.
func checkRoute(r string) error {
	u, err := url.Parse(r)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || u.Port() == "" {
		return fmt.Errorf("want nats-route://host:port")
	}
	return nil
}

func (s *Server) start() error {
	o, err := s.serverOptions()
	if err != nil {
		return err
	}
	// The lock comes before nats-server opens (or recovers) anything in
	// the store.
	lock, err := lockStore(o.StoreDir)
	if err != nil {
		return err
	}
	ns, err := server.NewServer(o)
	if err != nil {
		lock.release()
		return fmt.Errorf("embedded: %w", err)
	}
	if s.opts.Logs {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(s.opts.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		lock.release()
		return ErrNotReady
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		lock.release()
		return fmt.Errorf("embedded: JetStream did not start")
	}
	s.mu.Lock()
	s.ns, s.lock = ns, lock
	if !o.DontListen {
		if a, ok := ns.Addr().(*net.TCPAddr); ok {
			s.port = a.Port
		}
	}
	s.mu.Unlock()
	return nil
}

// NATS returns the underlying nats-server.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// ClientURL is the nats:// URL clients outside the process use. It is empty
// when the server does not listen.
func (s *Server) ClientURL() string {
	if s.opts.DontListen {
		return ""
	}
	return s.NATS().ClientURL()
}

// Connect opens a client connection: in-process when the server does not
// listen (no socket at all), over loopback otherwise. Reconnects forever, so a
// Restart is survived by the same connection.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}
	if s.opts.Token != "" {
		base = append(base, nats.Token(s.opts.Token))
	}
	if s.opts.Username != "" {
		base = append(base, nats.UserInfo(s.opts.Username, s.opts.Password))
	}
	opts = append(base, opts...)
	if s.opts.DontListen {
		opts = append(opts, nats.InProcessServer(s.NATS()))
		return nats.Connect("", opts...)
	}
	return nats.Connect(s.ClientURL(), opts...)
}

// Shutdown stops the server, waits until it is down and releases the store
// directory's lock.
func (s *Server) Shutdown() {
	s.mu.Lock()
	ns, lock := s.ns, s.lock
	s.lock = nil
	s.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	lock.release()
}

// Restart stops the server and starts it again on the same store directory
// and port, taking the store's lock again. In-process connections cannot
// follow a restart (the server object changes); reconnect them with Connect.
func (s *Server) Restart() error {
	s.Shutdown()
	return s.start()
}

func splitHostPort(hp string) (string, int, error) {
	if hp == "" {
		return "127.0.0.1", server.RANDOM_PORT, nil
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if p == 0 {
		// Port 0 is a free port, not "no cluster".
		p = server.RANDOM_PORT
	}
	return host, p, nil
}

// TempDir is a helper for callers that want a throw-away store: it returns a
// new directory under the system temp dir and a function removing it.
func TempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "jetflow-*")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}
