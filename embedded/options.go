package embedded

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures an embedded server. The zero value (plus a StoreDir)
// gives a JetStream server on 127.0.0.1:4222 with default fsync.
//
// Every port follows one rule: it listens on loopback unless told
// otherwise, and anywhere else it needs authentication (clients: a token,
// user, accounts, nkeys or verified TLS; routes: a cluster user and
// password or verified cluster TLS) or an explicit Insecure* field. The
// monitoring port has no authentication of its own, so anywhere but
// loopback it needs InsecureMonitoring.
type Options struct {
	// StoreDir is where JetStream keeps its files. Required unless the
	// ConfigFile names one. The server holds an exclusive lock on it (the
	// file jetflow.lock inside) while it runs: a second server on the same
	// store fails to start with ErrStoreLocked.
	StoreDir string
	// Host to listen on. Default: the ConfigFile's listen host when it has
	// one, else 127.0.0.1 (also with a ConfigFile that names no host, where
	// nats-server itself would bind every interface).
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
	// Cluster mode: a cluster name, the route listen address (host:port;
	// empty means a free port on 127.0.0.1, port 0 a free port, an empty
	// host every interface)
	// and the routes (nats-route://host:port) of the members. Routes may
	// include this server's own address (it is skipped) but must not be
	// empty: nats-server starts no JetStream cluster without routes
	// (ErrNoRoutes). A first member may list only itself; its JetStream
	// comes up once a majority of the members has routed to it.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// ClusterUsername and ClusterPassword authenticate routes: the route
	// port accepts only servers that present them, and this server presents
	// them on every route of Routes that carries no user of its own.
	ClusterUsername string
	ClusterPassword string
	// InsecureCluster allows a non-loopback ClusterListen without route
	// authentication.
	InsecureCluster bool
	// HTTPPort enables the monitoring endpoint (0 = off, -1 = a free port).
	HTTPPort int
	// HTTPHost is the monitoring endpoint's host. Default 127.0.0.1, whatever
	// Host is: the endpoint has no authentication.
	HTTPHost string
	// InsecureMonitoring allows a non-loopback HTTPHost.
	InsecureMonitoring bool
	// Insecure allows a non-loopback client listen address without auth.
	Insecure bool
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 30s: a cluster member on a loaded machine, or a server
	// recovering a large store, can take more than a few seconds.
	ReadyTimeout time.Duration
	// Logs sends the server's own log lines to stderr.
	Logs bool
}

// serverOptions turns Options (over the config file, if any) into the
// nats-server's options, and refuses any port that would listen beyond
// loopback without authentication.
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
	if o.StoreDir == "" {
		// Where nats-server puts a store nobody named; named here so that
		// it is locked like any other.
		o.StoreDir = filepath.Join(os.TempDir(), "nats")
	}
	switch {
	case s.opts.Host != "":
		o.Host = s.opts.Host
	case o.Host == "":
		// Neither the caller nor the config file named a host: loopback,
		// where nats-server would bind every interface.
		o.Host = "127.0.0.1"
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
	if err := s.clusterOptions(o); err != nil {
		return nil, err
	}
	switch {
	case s.opts.HTTPPort > 0:
		o.HTTPPort = s.opts.HTTPPort
	case s.opts.HTTPPort < 0:
		o.HTTPPort = server.RANDOM_PORT
	}
	if s.opts.HTTPHost != "" {
		o.HTTPHost = s.opts.HTTPHost
	}
	if o.HTTPHost == "" && (o.HTTPPort != 0 || o.HTTPSPort != 0) {
		// nats-server would bind the client host, which may be every
		// interface; monitoring stays on loopback unless asked.
		o.HTTPHost = "127.0.0.1"
	}
	if err := s.checkPorts(o); err != nil {
		return nil, err
	}
	o.NoSigs = true
	return o, nil
}

// clusterOptions applies the cluster fields. Credentials go into the
// route URLs, which is where nats-server takes a route's login from.
func (s *Server) clusterOptions(o *server.Options) error {
	if s.opts.ClusterName != "" {
		o.Cluster.Name = s.opts.ClusterName
		host, port, err := splitHostPort(s.opts.ClusterListen)
		if err != nil {
			return fmt.Errorf("embedded: cluster listen: %w", err)
		}
		o.Cluster.Host, o.Cluster.Port = host, port
		if len(s.opts.Routes) > 0 {
			// RoutesFromStr("") is one empty route, which a seed would
			// dial for ever.
			o.Routes = server.RoutesFromStr(strings.Join(s.opts.Routes, ","))
		}
	}
	if s.opts.ClusterUsername != "" || s.opts.ClusterPassword != "" {
		if s.opts.ClusterUsername == "" || s.opts.ClusterPassword == "" {
			return fmt.Errorf("embedded: ClusterUsername and ClusterPassword go together")
		}
		o.Cluster.Username, o.Cluster.Password = s.opts.ClusterUsername, s.opts.ClusterPassword
	}
	if clusterOn(o) && len(o.Routes) == 0 && len(o.LeafNode.Remotes) == 0 {
		return fmt.Errorf("%w; list them in Routes (this server's own address may be one of them)", ErrNoRoutes)
	}
	if o.Cluster.Username != "" {
		for i, r := range o.Routes {
			if r.User == nil {
				u := *r
				u.User = url.UserPassword(o.Cluster.Username, o.Cluster.Password)
				o.Routes[i] = &u
			}
		}
	}
	return nil
}
