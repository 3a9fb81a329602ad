package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
)

// NATSFlags are the connection flags every command that talks to a NATS
// server shares, named as the nats CLI names them.
type NATSFlags struct {
	URL      string
	Creds    string
	NKey     string
	Token    Secret
	User     string
	Password Secret
	TLSCert  string
	TLSKey   string
	TLSCA    string
	Replicas int
	Prefix   string
	// ConnectWait bounds the wait for a server that is not up yet (<0:
	// the default Connect is given).
	ConnectWait time.Duration
}

// Register adds the flags to fs, with the environment's defaults.
func (f *NATSFlags) Register(fs *flag.FlagSet) {
	def := os.Getenv("NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	fs.StringVar(&f.URL, "nats", def, "NATS server URL(s), comma separated (default $NATS_URL)")
	fs.StringVar(&f.URL, "server", def, "alias of --nats")
	// -h prints the default: never a password that $NATS_URL carries.
	fs.Lookup("nats").DefValue, fs.Lookup("server").DefValue = RedactURLs(def), RedactURLs(def)
	fs.StringVar(&f.Creds, "creds", os.Getenv("NATS_CREDS"), "user credentials file")
	fs.StringVar(&f.NKey, "nkey", os.Getenv("NATS_NKEY"), "nkey seed file")
	// The secrets' environment forms are read after parsing, not as flag
	// defaults, so that -h never prints them.
	f.Token = Secret{Flag: "--token", FileFlag: "--token-file", Env: "NATS_TOKEN"}
	f.Password = Secret{Flag: "--password", FileFlag: "--password-file", Env: "NATS_PASSWORD"}
	fs.StringVar(&f.Token.Value, "token", "", "authentication token (default $NATS_TOKEN; visible in the process list: prefer --token-file or the environment)")
	fs.StringVar(&f.Token.File, "token-file", "", "read the authentication token from this file")
	fs.StringVar(&f.User, "user", os.Getenv("NATS_USER"), "user name")
	fs.StringVar(&f.Password.Value, "password", "", "password (default $NATS_PASSWORD; prefer --password-file or the environment)")
	fs.StringVar(&f.Password.File, "password-file", "", "read the password from this file")
	fs.StringVar(&f.TLSCert, "tlscert", "", "client TLS certificate")
	fs.StringVar(&f.TLSKey, "tlskey", "", "client TLS key")
	fs.StringVar(&f.TLSCA, "tlsca", "", "CA to verify the server")
	fs.IntVar(&f.Replicas, "replicas", 1, "replicas of streams and buckets created (3 on a cluster)")
	fs.StringVar(&f.Prefix, "prefix", "jetflow", "namespace of subjects, streams and buckets")
	fs.DurationVar(&f.ConnectWait, "connect-wait", -1, "how long to wait for a NATS server that is not up yet (0: do not wait)")
	fs.Lookup("connect-wait").DefValue = "10s for worker, 3s for other commands"
}

// RegisterEmbedded registers the flags for a command that runs on its own
// embedded server unless --nats (or --server) is given: $NATS_URL alone
// does not send it elsewhere.
func (f *NATSFlags) RegisterEmbedded(fs *flag.FlagSet) {
	f.Register(fs)
	fs.Lookup("nats").DefValue, fs.Lookup("server").DefValue = "", ""
	fs.Lookup("nats").Usage = "run against this NATS server instead of the embedded one ($NATS_URL alone does not)"
}

// Validate checks the connection flags before anything connects.
func (f *NATSFlags) Validate() error {
	if f.Replicas < 1 || f.Replicas > 5 {
		return Usagef("--replicas %d: want 1 to 5", f.Replicas)
	}
	if strings.TrimSpace(f.URL) == "" {
		return Usagef("--nats: empty URL")
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return Usagef("--tlscert and --tlskey go together")
	}
	for flagName, path := range map[string]string{"--creds": f.Creds, "--nkey": f.NKey, "--tlscert": f.TLSCert, "--tlskey": f.TLSKey, "--tlsca": f.TLSCA} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return Usagef("%s: %v", flagName, err)
		}
	}
	if !steps.ValidName(f.Prefix) {
		return Usagef("--prefix %q: letters, digits, '-' and '_' only", f.Prefix)
	}
	return nil
}

// Connect connects as the client named name, waiting up to --connect-wait
// (defaultWait when the flag was not given) for a server that is not
// listening yet.
func (f *NATSFlags) Connect(name string, defaultWait time.Duration) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		// What the server refuses asynchronously (a publish outside the
		// user's permissions) is otherwise dropped without a word.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			slog.Warn("nats: asynchronous error", "err", err)
		})}
	if f.Creds != "" {
		opts = append(opts, nats.UserCredentials(f.Creds))
	}
	if f.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(f.NKey)
		if err != nil {
			return nil, Usagef("--nkey: %v", err)
		}
		opts = append(opts, o)
	}
	token, err := f.Token.Resolve()
	if err != nil {
		return nil, err
	}
	password, err := f.Password.Resolve()
	if err != nil {
		return nil, err
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if f.User != "" {
		opts = append(opts, nats.UserInfo(f.User, password))
	}
	if f.TLSCert != "" || f.TLSKey != "" {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	wait := f.ConnectWait
	if wait < 0 {
		wait = defaultWait
	}
	// Servers and workers start in any order (systemd, Kubernetes): wait a
	// little for one that is not listening yet, saying so once.
	deadline := time.Now().Add(wait)
	said := false
	for {
		nc, err := nats.Connect(f.URL, opts...)
		if err == nil {
			return nc, nil
		}
		if !errors.Is(err, nats.ErrNoServers) || time.Now().After(deadline) {
			return nil, fmt.Errorf("connecting to %s: %w", RedactURLs(f.URL), err)
		}
		if !said {
			fmt.Fprintf(os.Stderr, "jetflow: waiting up to %s for NATS at %s (%v)\n", wait, RedactURLs(f.URL), err)
			said = true
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// RedactURLs hides the password of every URL in a comma-separated list
// (nats://user:secret@host), for messages.
func RedactURLs(urls string) string {
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
