package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

// natsFlags are the connection flags every command that talks to a NATS
// server shares, named as the nats CLI names them.
type natsFlags struct {
	url      string
	creds    string
	nkey     string
	token    string
	user     string
	password string
	tlsCert  string
	tlsKey   string
	tlsCA    string
	replicas int
	prefix   string
}

func (f *natsFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	fs.StringVar(&f.url, "nats", def, "NATS server URL(s), comma separated (default $NATS_URL)")
	fs.StringVar(&f.url, "server", def, "alias of --nats")
	fs.StringVar(&f.creds, "creds", os.Getenv("NATS_CREDS"), "user credentials file")
	fs.StringVar(&f.nkey, "nkey", os.Getenv("NATS_NKEY"), "nkey seed file")
	fs.StringVar(&f.token, "token", os.Getenv("NATS_TOKEN"), "authentication token")
	fs.StringVar(&f.user, "user", os.Getenv("NATS_USER"), "user name")
	fs.StringVar(&f.password, "password", os.Getenv("NATS_PASSWORD"), "password")
	fs.StringVar(&f.tlsCert, "tlscert", "", "client TLS certificate")
	fs.StringVar(&f.tlsKey, "tlskey", "", "client TLS key")
	fs.StringVar(&f.tlsCA, "tlsca", "", "CA to verify the server")
	fs.IntVar(&f.replicas, "replicas", 1, "replicas of streams and buckets created (3 on a cluster)")
	fs.StringVar(&f.prefix, "prefix", "jetflow", "namespace of subjects, streams and buckets")
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
	if f.token != "" {
		opts = append(opts, nats.Token(f.token))
	}
	if f.user != "" {
		opts = append(opts, nats.UserInfo(f.user, f.password))
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	nc, err := nats.Connect(f.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", f.url, err)
	}
	return nc, nil
}
