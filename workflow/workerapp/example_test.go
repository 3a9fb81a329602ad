package workerapp_test

import (
	"context"
	"os"

	"github.com/jetflow-dev/jetflow/workflow/workerapp"
	"github.com/nats-io/nats.go/jetstream"
)

// A worker binary's whole main: `greet-worker --nats URL --metrics-addr
// 127.0.0.1:9101 --log-format json` then runs until SIGTERM and drains.
func Example() {
	app := workerapp.New("greet-worker")
	app.Register(greet)
	app.RegisterSteps(shout)
	os.Exit(app.Main(os.Args[1:]))
}

// A flag of the binary's own, checked before anything connects, and a
// bucket its steps need, opened once the worker is connected.
func ExampleApp_Setup() {
	app := workerapp.New("greet-worker")
	bucket := app.Flags().String("audit-bucket", "greetings", "where the greetings are recorded")
	app.Check(func() error {
		if *bucket == "" {
			return workerapp.Usagef("--audit-bucket: empty")
		}
		return nil
	})
	app.Setup(func(ctx context.Context, env workerapp.Env) error {
		js, err := jetstream.New(env.Conn)
		if err != nil {
			return err
		}
		_, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: *bucket, Replicas: env.Replicas})
		if err != nil {
			return err
		}
		app.Register(greet)
		app.RegisterSteps(shout) // a real step would hold the bucket
		return nil
	})
	os.Exit(app.Main(os.Args[1:]))
}
