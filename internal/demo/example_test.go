package demo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/workflow"
)

// The README's nightly reconciliation: at 02:30 Berlin time, whatever the
// offset of the day, ReconcilePayments refunds the charges of orders that
// never shipped and are over an hour old.
func Example_nightlyReconciliation() {
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

	// A worker of the workflow type looks after its schedules.
	w, _ := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	_ = demo.Register(w, demo.NewServices(nil), demo.Selection{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()
	client, _ := workflow.NewClient(ctx, nc)

	action, err := workflow.NewScheduleAction(demo.ReconcilePayments, demo.ReconcileInput{MinAge: "1h"})
	if err != nil {
		fmt.Println(err)
		return
	}
	spec := workflow.ScheduleSpec{Cron: []string{"0 30 2 * * *"}, TimeZone: "Europe/Berlin"}
	policies := workflow.SchedulePolicies{Overlap: workflow.OverlapSkip, CatchupWindow: time.Hour}
	for {
		err = client.CreateSchedule(ctx, "nightly-reconcile", spec, action, policies)
		var se *workflow.ScheduleError
		if !errors.As(err, &se) || se.Field != "workflow" || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // the worker is still coming up
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ := client.DescribeSchedule(ctx, "nightly-reconcile")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fmt.Println(len(d.NextFires), "next fires, the first at", d.NextFires[0].In(berlin).Format("15:04:05"), "Berlin time")
	// Output: 5 next fires, the first at 02:30:00 Berlin time
}
