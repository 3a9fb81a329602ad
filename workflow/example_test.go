package workflow_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

var greet = steps.New("Greet", func(ctx context.Context, name string) (string, error) {
	return "Hello, " + name + "!", nil
})

var shout = steps.New("Shout", func(ctx context.Context, s string) (string, error) {
	return strings.ToUpper(s), nil
})

var greeting = workflow.New("Greeting", func(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 5 * time.Second})
	s, err := workflow.ExecuteStep(ctx, greet, name).Get(ctx)
	if err != nil {
		return "", err
	}
	return workflow.ExecuteStep(ctx, shout, s).Get(ctx)
})

// A whole engine in one process: an embedded JetStream, a worker and a client.
func Example() {
	dir, _ := os.MkdirTemp("", "jetflow-example-*")
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, _ := srv.Connect()
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, _ := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	_ = w.RegisterWorkflow(greeting)
	_ = w.RegisterStep(greet)
	_ = w.RegisterStep(shout)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()

	c, _ := workflow.NewClient(ctx, nc)
	run, err := workflow.Start(ctx, c, greeting, "greeting-1", "jetflow")
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := run.Result(ctx)
	fmt.Println(out, err)
	// Output: HELLO, JETFLOW! <nil>
}
