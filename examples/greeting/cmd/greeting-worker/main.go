// Command greeting-worker runs the Greeting workflow and its steps, with
// the flags, logging, metrics and drain of `jetflow worker`:
//
//	greeting-worker --nats nats://127.0.0.1:4222 --name g1 --metrics-addr 127.0.0.1:9101
package main

import (
	"os"

	"example.com/greeting"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
)

func main() {
	app := workerapp.New("greeting-worker")
	app.Register(greeting.Greeting)
	app.RegisterSteps(greeting.Compose, greeting.Deliver)
	os.Exit(app.Main(os.Args[1:]))
}
