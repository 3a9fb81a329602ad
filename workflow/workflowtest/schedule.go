package workflowtest

import (
	"github.com/jetflow-dev/jetflow/workflow"
)

// CreateSchedule creates the schedule id in env, as
// workflow.Client.CreateSchedule does on JetStream: from now on, as the
// virtual clock moves (Advance, ExecuteWorkflow), each tick of spec starts
// a run of action at the tick's virtual time (its jitter included), with
// the ID the engine gives it — by default "<id>-<20060102T150405Z>", the
// tick's nominal time in UTC — under the schedule's policies. A nightly
// cron over three days is then
//
//	action, _ := workflow.NewScheduleAction(Report, "eu")
//	env.RegisterWorkflow(Report)
//	err := env.CreateSchedule("nightly", workflow.ScheduleSpec{Cron: []string{"0 30 2 * * *"}, TimeZone: "Europe/Berlin"}, action, workflow.SchedulePolicies{})
//	env.Advance(72 * time.Hour)
//	d, _ := env.DescribeSchedule("nightly") // d.Recent: nightly-20260328T013000Z, ...
//
// The ticks are planned by the engine's own code, so every overlap
// policy behaves as on JetStream (skip, buffer_one, buffer_all,
// cancel_other, terminate_other, allow_all), as do Limit, Start, End and
// Jitter. What needs a late or absent worker does not happen: a tick is
// handled at its time, never missed past the catch-up window (unless its
// jitter exceeds the window, as on JetStream). Pause, trigger, backfill
// and update are not offered.
//
// The action's workflow must be registered (RegisterWorkflow), as
// Client.CreateSchedule wants a worker serving it. What is wrong with
// spec, action or policies is a *workflow.ScheduleError naming the field;
// an ID taken by a schedule of env workflow.ErrScheduleExists.
func (env *Env) CreateSchedule(id string, spec workflow.ScheduleSpec, action workflow.ScheduleAction, pol workflow.SchedulePolicies) error {
	return env.e.CreateSchedule(id, spec, action, pol)
}

// DescribeSchedule returns schedule id as workflow.Client.DescribeSchedule
// does — its counts (Started, Skipped, Buffered, Missed), Done, the next
// ticks after the virtual clock's time — except that Recent holds every run
// it started, oldest first, with its status now. Result and Record read
// each run. An unknown ID gives workflow.ErrNotFound.
func (env *Env) DescribeSchedule(id string) (workflow.ScheduleDescription, error) {
	d, err := env.e.DescribeSchedule(id)
	return d.(workflow.ScheduleDescription), err
}
