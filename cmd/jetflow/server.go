package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/jetflow-dev/jetflow/embedded"
)

func init() {
	register(command{name: "server", summary: "run NATS + JetStream standalone (or as one member of a cluster)", run: runServer})
}

// serverFlags are the flags of `jetflow server`, named after nats-server's
// where it has one.
type serverFlags struct {
	listen             string
	data               string
	sync               string
	token              secret
	user               string
	password           secret
	config             string
	name               string
	clusterName        string
	clusterListen      string
	routes             string
	clusterUser        string
	clusterPassword    secret
	http               string
	insecure           bool
	insecureCluster    bool
	insecureMonitoring bool
	quiet              bool
	prefix             string
	noInit             bool
}

// defaultClusterUser is the route user when only a cluster password is
// given: the password is the secret, the name only has to match.
const defaultClusterUser = "jetflow"

func runServer(ctx context.Context, args []string) error {
	f := serverFlags{
		token:           secret{Flag: "--token", FileFlag: "--token-file", Env: "JETFLOW_TOKEN"},
		password:        secret{Flag: "--password", FileFlag: "--password-file", Env: "JETFLOW_PASSWORD"},
		clusterPassword: secret{Flag: "--cluster-password", FileFlag: "--cluster-password-file", Env: "JETFLOW_CLUSTER_PASSWORD"},
	}
	fs := newFlagSet("server", os.Stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:4222", "client listen address host:port (port 0 picks a free one); beyond loopback it needs client authentication")
	fs.StringVar(&f.data, "data", "jetflow-data", "JetStream store directory, locked while the server runs (one server per store)")
	fs.StringVar(&f.sync, "sync", "default", "fsync policy: 'always' fsyncs every write; 'default' every 2 minutes (a power loss can lose acknowledged writes, a process crash cannot)")
	fs.StringVar(&f.token.Value, "token", "", "require this client token (visible in the process list: prefer --token-file or $JETFLOW_TOKEN)")
	fs.StringVar(&f.token.File, "token-file", "", "read the client token from this file")
	fs.StringVar(&f.user, "user", "", "require this user name (with a password)")
	fs.StringVar(&f.password.Value, "password", "", "password of --user (prefer --password-file or $JETFLOW_PASSWORD)")
	fs.StringVar(&f.password.File, "password-file", "", "read the password of --user from this file")
	fs.StringVar(&f.config, "config", "", "nats-server configuration file; flags given explicitly override it")
	fs.StringVar(&f.name, "name", "", "server name, unique in a cluster (default host-port)")
	fs.StringVar(&f.clusterName, "cluster-name", "", "cluster name (default \"jetflow\" when --cluster-listen is set)")
	fs.StringVar(&f.clusterListen, "cluster-listen", "", "route listen address host:port; enables cluster mode (needs --routes); beyond loopback it needs a cluster password")
	fs.StringVar(&f.routes, "routes", "", "routes to the members, comma separated (nats-route://host:port); this server's own address may be listed, a first member may list only itself")
	fs.StringVar(&f.clusterUser, "cluster-user", "", "route user name (default \""+defaultClusterUser+"\" when a cluster password is set)")
	fs.StringVar(&f.clusterPassword.Value, "cluster-password", "", "route password: members accept only routes that present it, and present it on theirs (prefer --cluster-password-file or $JETFLOW_CLUSTER_PASSWORD)")
	fs.StringVar(&f.clusterPassword.File, "cluster-password-file", "", "read the route password from this file")
	fs.StringVar(&f.http, "http", "", "monitoring address: a port (on 127.0.0.1) or host:port; -1 or port 0 picks a free one (default off)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow a non-loopback --listen without client authentication")
	fs.BoolVar(&f.insecureCluster, "insecure-cluster", false, "allow a non-loopback --cluster-listen without a cluster password")
	fs.BoolVar(&f.insecureMonitoring, "insecure-monitoring", false, "allow a non-loopback --http (the monitoring endpoint has no authentication)")
	fs.BoolVar(&f.quiet, "quiet", false, "do not print the NATS server's own log lines")
	fs.StringVar(&f.prefix, "prefix", "jetflow", "namespace whose streams and buckets a single server without --config sets up at start")
	fs.BoolVar(&f.noInit, "no-init", false, "set up no namespace at start (workers or 'jetflow init' do)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	opts, err := f.options(set)
	if err != nil {
		return err
	}
	srv, err := embedded.Start(opts)
	if err != nil {
		return f.startError(err)
	}
	if err := f.initAtStart(ctx, srv); err != nil {
		srv.Shutdown()
		return err
	}
	ns := srv.NATS()
	url := srv.ClientURL()
	if a, ok := ns.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		url = fmt.Sprintf("nats://127.0.0.1:%d (listening on all interfaces)", a.Port)
	}
	fmt.Printf("jetflow server %s ready: clients connect to %s\n", ns.Name(), url)
	if a := ns.ClusterAddr(); a != nil {
		auth := ""
		if opts.ClusterPassword != "" {
			auth = " (routes need the cluster password)"
		}
		fmt.Printf("cluster %s: routes listen on nats-route://%s%s; JetStream is available once a majority of the members has joined\n", ns.ClusterName(), a.String(), auth)
	}
	if a := ns.MonitorAddr(); a != nil {
		fmt.Printf("monitoring on http://%s\n", a.String())
	}
	<-ctx.Done()
	fmt.Println("jetflow server: shutting down")
	srv.Shutdown()
	return nil
}

// startError turns a refusal of the embedded server into a message that
// names the flags that fix it.
func (f *serverFlags) startError(err error) error {
	var locked *embedded.StoreLockedError
	switch {
	case errors.Is(err, embedded.ErrInsecureListen):
		return usagef("refusing to listen on %s without authentication: clients from other hosts could read and change every run.\n"+
			"Set --token-file, --user with --password-file (or their flag and environment forms) or a --config with accounts, or pass --insecure if the network is trusted.", f.refusedHost(err))
	case errors.Is(err, embedded.ErrInsecureCluster):
		return usagef("refusing to accept routes on %s without cluster authentication: any server that reaches the port could join the cluster and read and change every run.\n"+
			"Give every member the same --cluster-password-file (or $JETFLOW_CLUSTER_PASSWORD, --cluster-password), use a --config with cluster TLS that verifies certificates, "+
			"keep --cluster-listen on loopback, or pass --insecure-cluster if the network is trusted.", orConfig(f.clusterListen))
	case errors.Is(err, embedded.ErrInsecureMonitoring):
		return usagef("refusing to serve monitoring on %s: the monitoring endpoint has no authentication and lists every connection, subscription and stream.\n"+
			"Keep --http on loopback (a port alone binds 127.0.0.1), or pass --insecure-monitoring if the network is trusted.", orConfig(f.http))
	case errors.Is(err, embedded.ErrNoRoutes):
		return usagef("%v", err)
	case errors.As(err, &locked):
		holder := "another process"
		if locked.PID != 0 {
			holder = fmt.Sprintf("process %d", locked.PID)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the store %s is in use by %s (another jetflow server?): two servers on one store lose data; stop it or choose another --data", locked.Dir, holder)}
	}
	return fmt.Errorf("starting the server: %w", err)
}

// refusedHost is the host the server refused to listen on, as the embedded
// server names it (the --config file's, when the flag was not given).
func (f *serverFlags) refusedHost(err error) string {
	if f.config == "" {
		return f.listen
	}
	if m := regexp.MustCompile(`\(([^()]+)\)`).FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "the address of the --config file"
}

func orConfig(flagValue string) string {
	if flagValue == "" {
		return "the address of the --config file"
	}
	return flagValue
}

func (f *serverFlags) options(set map[string]bool) (embedded.Options, error) {
	o := embedded.Options{
		Username:           f.user,
		ConfigFile:         f.config,
		Insecure:           f.insecure,
		InsecureCluster:    f.insecureCluster,
		InsecureMonitoring: f.insecureMonitoring,
		Logs:               !f.quiet,
		Name:               f.name,
	}
	var err error
	if o.Token, err = f.token.Resolve(); err != nil {
		return o, err
	}
	if o.Password, err = f.password.Resolve(); err != nil {
		return o, err
	}
	if f.user == "" && o.Password != "" {
		return o, usagef("a password (--password, --password-file or $JETFLOW_PASSWORD) needs --user")
	}
	if f.user != "" && o.Password == "" {
		return o, usagef("--user needs a password: --password-file, $JETFLOW_PASSWORD or --password")
	}
	switch f.sync {
	case "always":
		o.SyncAlways = true
	case "default", "":
	default:
		return o, usagef("--sync %q: want 'always' or 'default'", f.sync)
	}
	if o.HTTPHost, o.HTTPPort, err = parseHTTP(f.http); err != nil {
		return o, err
	}
	if f.config != "" {
		if _, err := os.Stat(f.config); err != nil {
			return o, usagef("--config: %v", err)
		}
	}
	// With a config file, the file decides what the flags left unset.
	if f.config == "" || set["data"] {
		o.StoreDir = f.data
	}
	if f.config == "" || set["listen"] {
		host, port, err := splitListen("--listen", f.listen)
		if err != nil {
			return o, err
		}
		o.Host = host
		if port == 0 {
			o.RandomPort = true
		} else {
			o.Port = port
		}
	}
	if o.Name == "" && f.clusterListen == "" {
		o.Name, _ = os.Hostname()
	}
	if err := f.clusterOptions(&o); err != nil {
		return o, err
	}
	return o, nil
}

func (f *serverFlags) clusterOptions(o *embedded.Options) error {
	pw, err := f.clusterPassword.Resolve()
	if err != nil {
		return err
	}
	if f.clusterUser != "" && pw == "" {
		return usagef("--cluster-user needs a cluster password: --cluster-password-file, $JETFLOW_CLUSTER_PASSWORD or --cluster-password")
	}
	if pw != "" {
		o.ClusterUsername, o.ClusterPassword = f.clusterUser, pw
		if o.ClusterUsername == "" {
			o.ClusterUsername = defaultClusterUser
		}
	}
	if f.clusterListen == "" && f.routes == "" && f.clusterName == "" {
		return nil
	}
	if f.clusterListen == "" {
		return usagef("--routes and --cluster-name need --cluster-listen")
	}
	_, port, err := splitListen("--cluster-listen", f.clusterListen)
	if err != nil {
		return err
	}
	if port == 0 {
		return usagef("--cluster-listen %q: needs a fixed port, which the other members' --routes name", f.clusterListen)
	}
	o.ClusterName = f.clusterName
	if o.ClusterName == "" {
		o.ClusterName = "jetflow"
	}
	o.ClusterListen = f.clusterListen
	for _, r := range strings.Split(f.routes, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !strings.Contains(r, "://") {
			r = "nats-route://" + r
		}
		o.Routes = append(o.Routes, r)
	}
	if len(o.Routes) == 0 && f.config == "" {
		return usagef("--cluster-listen needs --routes: nats-server starts no JetStream cluster without routes.\n" +
			"Give every member the route addresses of the members (its own is skipped), e.g. --routes 127.0.0.1:6222,127.0.0.1:6223,127.0.0.1:6224; " +
			"a first member may list only its own address: its JetStream comes up once a majority of the members has routed to it.")
	}
	if o.Name == "" {
		// JetStream identifies cluster peers by name: keep it stable
		// across restarts.
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(f.clusterListen)
		o.Name = host + "-" + port
	}
	return nil
}

// parseHTTP reads --http: empty or "0" is off, a port alone binds
// 127.0.0.1, -1 or port 0 picks a free port.
func parseHTTP(v string) (string, int, error) {
	switch v {
	case "", "0":
		return "", 0, nil
	case "-1":
		return "127.0.0.1", -1, nil
	}
	if p, err := strconv.Atoi(v); err == nil {
		if p < 1 || p > 65535 {
			return "", 0, usagef("--http %s: want a port, host:port, -1 (a free port) or 0 (off)", v)
		}
		return "127.0.0.1", p, nil
	}
	host, port, err := splitListen("--http", v)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = -1
	}
	return host, port, nil
}

func splitListen(flagName, hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, usagef("%s %q: want host:port (%v)", flagName, hp, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, usagef("%s %q: port %q is not a number from 0 to 65535", flagName, hp, port)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, p, nil
}
