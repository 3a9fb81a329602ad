package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// natsFlags are the connection flags every command that talks to a NATS
// server shares, named as the nats CLI names them.
type natsFlags struct {
	url      string
	creds    string
	nkey     string
	token    secret
	user     string
	password secret
	tlsCert  string
	tlsKey   string
	tlsCA    string
	replicas int
	prefix   string
	// connectWait bounds the wait for a server that is not up yet (<0:
	// the command's default).
	connectWait time.Duration
}

func (f *natsFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	fs.StringVar(&f.url, "nats", def, "NATS server URL(s), comma separated (default $NATS_URL)")
	fs.StringVar(&f.url, "server", def, "alias of --nats")
	// -h prints the default: never a password that $NATS_URL carries.
	fs.Lookup("nats").DefValue, fs.Lookup("server").DefValue = redactURLs(def), redactURLs(def)
	fs.StringVar(&f.creds, "creds", os.Getenv("NATS_CREDS"), "user credentials file")
	fs.StringVar(&f.nkey, "nkey", os.Getenv("NATS_NKEY"), "nkey seed file")
	// The secrets' environment forms are read after parsing, not as flag
	// defaults, so that -h never prints them.
	f.token = secret{flag: "--token", fileFlag: "--token-file", env: "NATS_TOKEN"}
	f.password = secret{flag: "--password", fileFlag: "--password-file", env: "NATS_PASSWORD"}
	fs.StringVar(&f.token.value, "token", "", "authentication token (default $NATS_TOKEN; visible in the process list: prefer --token-file or the environment)")
	fs.StringVar(&f.token.file, "token-file", "", "read the authentication token from this file")
	fs.StringVar(&f.user, "user", os.Getenv("NATS_USER"), "user name")
	fs.StringVar(&f.password.value, "password", "", "password (default $NATS_PASSWORD; prefer --password-file or the environment)")
	fs.StringVar(&f.password.file, "password-file", "", "read the password from this file")
	fs.StringVar(&f.tlsCert, "tlscert", "", "client TLS certificate")
	fs.StringVar(&f.tlsKey, "tlskey", "", "client TLS key")
	fs.StringVar(&f.tlsCA, "tlsca", "", "CA to verify the server")
	fs.IntVar(&f.replicas, "replicas", 1, "replicas of streams and buckets created (3 on a cluster)")
	fs.StringVar(&f.prefix, "prefix", "jetflow", "namespace of subjects, streams and buckets")
	fs.DurationVar(&f.connectWait, "connect-wait", -1, "how long to wait for a NATS server that is not up yet (0: do not wait)")
	fs.Lookup("connect-wait").DefValue = "10s for worker, 3s for other commands"
}

// registerEmbedded registers the flags for a command that runs on its own
// embedded server unless --nats (or --server) is given: $NATS_URL alone
// does not send it elsewhere.
func (f *natsFlags) registerEmbedded(fs *flag.FlagSet) {
	f.register(fs)
	fs.Lookup("nats").DefValue, fs.Lookup("server").DefValue = "", ""
	fs.Lookup("nats").Usage = "run against this NATS server instead of the embedded one ($NATS_URL alone does not)"
}

func (f *natsFlags) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		// What the server refuses asynchronously (a publish outside the
		// user's permissions) is otherwise dropped without a word.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			slog.Warn("nats: asynchronous error", "err", err)
		})}
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	if f.nkey != "" {
		o, err := nats.NkeyOptionFromSeed(f.nkey)
		if err != nil {
			return nil, usagef("--nkey: %v", err)
		}
		opts = append(opts, o)
	}
	token, err := f.token.resolve()
	if err != nil {
		return nil, err
	}
	password, err := f.password.resolve()
	if err != nil {
		return nil, err
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if f.user != "" {
		opts = append(opts, nats.UserInfo(f.user, password))
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	wait := f.connectWait
	if wait < 0 {
		wait = 3 * time.Second
		if strings.HasPrefix(name, "jetflow-worker") {
			wait = 10 * time.Second
		}
	}
	// Servers and workers start in any order (systemd, Kubernetes): wait a
	// little for one that is not listening yet, saying so once.
	deadline := time.Now().Add(wait)
	said := false
	for {
		nc, err := nats.Connect(f.url, opts...)
		if err == nil {
			return nc, nil
		}
		if !errors.Is(err, nats.ErrNoServers) || time.Now().After(deadline) {
			return nil, fmt.Errorf("connecting to %s: %w", redactURLs(f.url), err)
		}
		if !said {
			fmt.Fprintf(os.Stderr, "jetflow: waiting up to %s for NATS at %s (%v)\n", wait, redactURLs(f.url), err)
			said = true
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// redactURLs hides the password of every URL in a comma-separated list
// (nats://user:secret@host), for messages.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = "(a URL with credentials)"
		}
	}
	return strings.Join(parts, ",")
}
