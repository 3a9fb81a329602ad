package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	nats    natsFlags
	json    bool
	timeout time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.nats.Register(fs)
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound on talking to NATS (commands that wait are bounded by --wait-timeout)")
}

// session is a client command's connection: the typed client and the raw
// streams and buckets for what the client does not expose (listing keys,
// reading events).
type session struct {
	nc     *nats.Conn
	client *workflow.Client
	env    *wire.Env
}

func (s *session) close() { s.nc.Close() }

func (f *clientFlags) open(ctx context.Context) (*session, error) {
	if err := f.nats.Validate(); err != nil {
		return nil, err
	}
	nc, err := f.nats.Connect("jetflow-cli", 3*time.Second)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	opts := []workflow.Option{workflow.WithPrefix(f.nats.Prefix)}
	client, err := workflow.NewClient(sctx, nc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	env, err := wire.Bind(sctx, nc, wire.Config{Prefix: f.nats.Prefix})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &session{nc: nc, client: client, env: env}, nil
}

// notFound turns a missing run into a plain message with exit status 1.
// runIDArg parses a command line whose one argument is a run ID, and
// checks the ID.
func runIDArg(fs *flag.FlagSet, args []string, usage string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if err := wantArgs(pos, 1, 1, usage); err != nil {
		return "", err
	}
	if err := workflow.ValidateID(pos[0]); err != nil {
		return "", usagef("%v", err)
	}
	return pos[0], nil
}

func notFound(err error, id string) error {
	if errors.Is(err, workflow.ErrNotFound) {
		return &exitError{code: 1, msg: fmt.Sprintf("no run with ID %q", id)}
	}
	var ie *workflow.InvalidIDError
	if errors.As(err, &ie) {
		return usagef("%v", err)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stamp formats a time for text output; zero is "-".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// optTime is a time that JSON-encodes as null when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// human prints a duration rounded for people.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// inputJSON and outputJSON convert the stored input or output of a
// workflow or step to JSON: with the demo's types when it is one of the
// demo's (their fields in the source document's order), generically
// otherwise (maps in their stored order, which for a Go struct is its field
// order), so that a run of any workflow prints without its Go types.
func inputJSON(name string, data []byte) (json.RawMessage, error) {
	return viaDemo(demo.InputJSON, name, data)
}

func outputJSON(name string, data []byte) (json.RawMessage, error) {
	return viaDemo(demo.OutputJSON, name, data)
}

func viaDemo(typed func(string, []byte) ([]byte, error), name string, data []byte) (json.RawMessage, error) {
	out, err := typed(name, data)
	if errors.Is(err, demo.ErrUnknownName) {
		return jsonpayload.ToJSON(data)
	}
	return out, err
}

// inputFromJSON converts the JSON input of a run to the msgpack it is
// stored as: strictly through the demo's types for the demo's workflows
// (unknown fields and wrong types are refused here, with where),
// generically for any other (objects as maps keyed by their JSON field
// names, integral numbers as integers), which the worker decodes into the
// workflow's input type.
func inputFromJSON(name string, data []byte) ([]byte, error) {
	in, err := demo.InputFromJSON(name, data)
	if errors.Is(err, demo.ErrUnknownName) {
		return jsonpayload.FromJSON(data)
	}
	return in, err
}
