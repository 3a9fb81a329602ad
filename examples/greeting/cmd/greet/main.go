// Command greet is a client in another service: it starts a Greeting run
// and prints its output as JSON. It imports package greeting only for the
// workflow's name and types; the worker runs the code.
//
//	greet --nats nats://127.0.0.1:4222 --id greet-1 --name Ada --email ada@example.com
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"example.com/greeting"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL (default $NATS_URL)")
	id := flag.String("id", "", "the run's ID: starting an ID twice starts one run")
	var in greeting.Input
	flag.StringVar(&in.Name, "name", "", "who to greet")
	flag.StringVar(&in.Email, "email", "", "where to send the greeting")
	flag.IntVar(&in.Excitement, "excitement", 1, "exclamation marks")
	flag.Parse()
	if env := os.Getenv("NATS_URL"); env != "" && !isSet("nats") {
		*url = env
	}
	if err := run(*url, *id, in); err != nil {
		fmt.Fprintln(os.Stderr, "greet:", err)
		os.Exit(1)
	}
}

func run(url, id string, in greeting.Input) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	c, err := workflow.NewClient(ctx, nc)
	if err != nil {
		return err
	}
	if id == "" {
		id = fmt.Sprintf("greet-%d", time.Now().UnixNano())
	}
	run, err := workflow.Start(ctx, c, greeting.Greeting, id, in)
	if err != nil {
		return err
	}
	out, err := run.Result(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
