package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
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
	listen        string
	data          string
	sync          string
	token         string
	user          string
	password      string
	config        string
	name          string
	clusterName   string
	clusterListen string
	routes        string
	http          int
	insecure      bool
	quiet         bool
	prefix        string
	noInit        bool
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("jetflow "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns a bad flag into a usage error (exit 2);
// -h prints the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fmt.Fprintf(os.Stderr, "usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return &exitError{code: 0}
	}
	if err != nil {
		return usagef("%v (see '%s -h')", err, fs.Name())
	}
	return nil
}

func runServer(ctx context.Context, args []string) error {
	var f serverFlags
	fs := newFlagSet("server", os.Stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:4222", "client listen address host:port (port 0 picks a free one)")
	fs.StringVar(&f.data, "data", "jetflow-data", "JetStream store directory")
	fs.StringVar(&f.sync, "sync", "default", "fsync policy: 'always' fsyncs every write; 'default' every 2 minutes (a power loss can lose acknowledged writes, a process crash cannot)")
	fs.StringVar(&f.token, "token", "", "require this client token")
	fs.StringVar(&f.user, "user", "", "require this user name (with --password)")
	fs.StringVar(&f.password, "password", "", "password of --user")
	fs.StringVar(&f.config, "config", "", "nats-server configuration file; flags given explicitly override it")
	fs.StringVar(&f.name, "name", "", "server name, unique in a cluster (default host-port)")
	fs.StringVar(&f.clusterName, "cluster-name", "", "cluster name (default \"jetflow\" when --cluster-listen is set)")
	fs.StringVar(&f.clusterListen, "cluster-listen", "", "route listen address host:port; enables cluster mode")
	fs.StringVar(&f.routes, "routes", "", "routes to the other members, comma separated (nats-route://host:port)")
	fs.IntVar(&f.http, "http", 0, "monitoring port on the listen host (0 = off, -1 = a free one)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow a non-loopback listen address without authentication")
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
	if errors.Is(err, embedded.ErrInsecureListen) {
		return usagef("refusing to listen on %s without authentication: clients from other hosts could read and change every run.\n"+
			"Set --token, --user/--password or a --config with accounts, or pass --insecure if the network is trusted.", f.listen)
	}
	if err != nil {
		return fmt.Errorf("starting the server: %w", err)
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
		fmt.Printf("cluster %s: routes listen on nats-route://%s\n", ns.ClusterName(), a.String())
	}
	if a := ns.MonitorAddr(); a != nil {
		fmt.Printf("monitoring on http://%s\n", a.String())
	}
	<-ctx.Done()
	fmt.Println("jetflow server: shutting down")
	srv.Shutdown()
	return nil
}

func (f *serverFlags) options(set map[string]bool) (embedded.Options, error) {
	o := embedded.Options{
		Token:      f.token,
		Username:   f.user,
		Password:   f.password,
		ConfigFile: f.config,
		Insecure:   f.insecure,
		HTTPPort:   f.http,
		Logs:       !f.quiet,
		Name:       f.name,
	}
	if f.user == "" && f.password != "" {
		return o, usagef("--password needs --user")
	}
	if f.user != "" && f.password == "" {
		return o, usagef("--user needs --password")
	}
	switch f.sync {
	case "always":
		o.SyncAlways = true
	case "default", "":
	default:
		return o, usagef("--sync %q: want 'always' or 'default'", f.sync)
	}
	if f.http < -1 || f.http > 65535 {
		return o, usagef("--http %d: want a port, 0 (off) or -1 (a free one)", f.http)
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
	if f.clusterListen != "" || f.routes != "" || f.clusterName != "" {
		if f.clusterListen == "" {
			return o, usagef("--routes and --cluster-name need --cluster-listen")
		}
		_, port, err := splitListen("--cluster-listen", f.clusterListen)
		if err != nil {
			return o, err
		}
		if port == 0 {
			return o, usagef("--cluster-listen %q: needs a fixed port, which the other members' --routes name", f.clusterListen)
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
		if o.Name == "" {
			// JetStream identifies cluster peers by name: keep it stable
			// across restarts.
			host, _ := os.Hostname()
			_, port, _ := net.SplitHostPort(f.clusterListen)
			o.Name = host + "-" + port
		}
	}
	return o, nil
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
