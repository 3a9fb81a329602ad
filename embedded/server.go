package embedded

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ErrNotReady is returned when the server did not accept connections within
// Options.ReadyTimeout.
var ErrNotReady = errors.New("embedded: server not ready for connections")

// ErrInsecureListen is returned when the server would listen on an address
// other than loopback without any authentication and Options.Insecure is not set.
var ErrInsecureListen = errors.New("embedded: refusing to listen on a non-loopback address without auth")

// Options configures an embedded server. The zero value (plus a StoreDir)
// gives a JetStream server on 127.0.0.1:4222 with default fsync.
type Options struct {
	// StoreDir is where JetStream keeps its files. Required.
	StoreDir string
	// Host to listen on. Default 127.0.0.1.
	Host string
	// Port to listen on. 0 means 4222; RandomPort picks a free one.
	Port int
	// RandomPort asks the kernel for a free port.
	RandomPort bool
	// DontListen starts no listener; only in-process connections work.
	DontListen bool
	// SyncAlways makes JetStream fsync every write (sync_interval: always).
	// The default syncs every two minutes, which can lose acknowledged
	// writes on power loss (not on a process crash).
	SyncAlways bool
	// MaxPayload overrides the server's max_payload (default 1 MiB).
	MaxPayload int32
	// Name of the server (cluster mode needs distinct names).
	Name string
	// Token, or Username and Password, require clients to authenticate.
	Token    string
	Username string
	Password string
	// ConfigFile is a nats-server configuration file; when set, it is loaded
	// first and the fields above override it where they are set.
	ConfigFile string
	// Cluster mode: a cluster name, the route listen address and the routes
	// (nats-route://host:port) of the other members.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// HTTPPort enables the monitoring endpoint on Host (0 = off, -1 = random).
	HTTPPort int
	// Insecure allows a non-loopback listen address without auth.
	Insecure bool
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 10s.
	ReadyTimeout time.Duration
	// Logs sends the server's own log lines to stderr.
	Logs bool
}

// Server is a running embedded server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	mu   sync.Mutex
	ns   *server.Server
	port int
}

// Start starts a server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.StoreDir == "" && opts.ConfigFile == "" {
		return nil, fmt.Errorf("embedded: StoreDir is required")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) serverOptions() (*server.Options, error) {
	o := &server.Options{}
	if s.opts.ConfigFile != "" {
		fo, err := server.ProcessConfigFile(s.opts.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("embedded: reading config %s: %w", s.opts.ConfigFile, err)
		}
		o = fo
	}
	o.JetStream = true
	if s.opts.StoreDir != "" {
		o.StoreDir = s.opts.StoreDir
	}
	if s.opts.ConfigFile == "" || s.opts.Host != "127.0.0.1" {
		o.Host = s.opts.Host
	}
	o.DontListen = s.opts.DontListen
	switch {
	case s.port != 0:
		o.Port = s.port // a restart keeps the port clients know
	case s.opts.RandomPort:
		o.Port = server.RANDOM_PORT
	case s.opts.Port != 0:
		o.Port = s.opts.Port
	case o.Port == 0:
		o.Port = server.DEFAULT_PORT
	}
	if s.opts.SyncAlways {
		o.SyncAlways = true
	}
	if s.opts.MaxPayload > 0 {
		o.MaxPayload = s.opts.MaxPayload
	}
	if s.opts.Name != "" {
		o.ServerName = s.opts.Name
	}
	if s.opts.Token != "" {
		o.Authorization = s.opts.Token
	}
	if s.opts.Username != "" {
		o.Username, o.Password = s.opts.Username, s.opts.Password
	}
	if s.opts.ClusterName != "" {
		o.Cluster.Name = s.opts.ClusterName
		host, port, err := splitHostPort(s.opts.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("embedded: cluster listen: %w", err)
		}
		o.Cluster.Host, o.Cluster.Port = host, port
		o.Routes = server.RoutesFromStr(joinComma(s.opts.Routes))
	}
	switch {
	case s.opts.HTTPPort > 0:
		o.HTTPHost, o.HTTPPort = o.Host, s.opts.HTTPPort
	case s.opts.HTTPPort < 0:
		o.HTTPHost, o.HTTPPort = o.Host, server.RANDOM_PORT
	}
	if !o.DontListen && !s.opts.Insecure && !isLoopback(o.Host) &&
		o.Authorization == "" && o.Username == "" && len(o.Users) == 0 && len(o.Nkeys) == 0 && o.TrustedOperators == nil {
		return nil, fmt.Errorf("%w (%s); set a token or user, or pass Insecure", ErrInsecureListen, o.Host)
	}
	o.NoSigs = true
	return o, nil
}

func (s *Server) start() error {
	o, err := s.serverOptions()
	if err != nil {
		return err
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	if s.opts.Logs {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(s.opts.ReadyTimeout) {
		ns.Shutdown()
		return ErrNotReady
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return fmt.Errorf("embedded: JetStream did not start")
	}
	s.mu.Lock()
	s.ns = ns
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

// Shutdown stops the server and waits until it is down.
func (s *Server) Shutdown() {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return
	}
	ns.Shutdown()
	ns.WaitForShutdown()
}

// Restart stops the server and starts it again on the same store directory
// and port. In-process connections cannot follow a restart (the server object
// changes); reconnect them with Connect.
func (s *Server) Restart() error {
	s.Shutdown()
	return s.start()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitHostPort(hp string) (string, int, error) {
	if hp == "" {
		return "127.0.0.1", server.RANDOM_PORT, nil
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	return host, p, nil
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
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
