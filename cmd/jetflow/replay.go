package main

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
)

func init() {
	register(command{name: "replay", summary: "replay saved histories (history --json) against the demo's workflow code, offline", run: runReplay})
}

// runReplay is the replay command of a worker binary (package workerapp),
// with the workflows `jetflow worker` runs: your own worker binary has the
// same command for yours.
func runReplay(ctx context.Context, args []string) error {
	app := workerapp.New("jetflow")
	app.Register(demo.Workflows()...)
	app.Register(demo.Exercises()...)
	return helpExits(app.Run(ctx, append([]string{"replay"}, args...)))
}
