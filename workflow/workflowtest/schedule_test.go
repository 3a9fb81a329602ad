package workflowtest_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

// Report says when it ran, in virtual time.
var Report = workflow.New("Report", func(ctx workflow.Context, region string) (string, error) {
	return region + " at " + workflow.Now(ctx).UTC().Format(time.RFC3339), nil
})

// Slow takes 150 minutes of virtual time.
var Slow = workflow.New("Slow", func(ctx workflow.Context, _ struct{}) (string, error) {
	return "done", workflow.Sleep(ctx, 150*time.Minute)
})

func runIDs(d workflow.ScheduleDescription) []string {
	var ids []string
	for _, r := range d.Recent {
		ids = append(ids, r.WorkflowID)
	}
	return ids
}

// TestNightlyScheduleAcrossDST: 02:30 in Berlin does not exist on the
// night clocks spring forward (no run), and occurs twice on the night
// they fall back (one run, at the first).
func TestNightlyScheduleAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start time.Time
		want  []string
	}{
		{"spring forward", time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),
			[]string{"nightly-20260328T013000Z", "nightly-20260330T003000Z", "nightly-20260331T003000Z"}},
		{"fall back", time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC),
			[]string{"nightly-20261024T003000Z", "nightly-20261025T003000Z", "nightly-20261026T013000Z", "nightly-20261027T013000Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := workflowtest.NewEnv(t, workflowtest.WithStartTime(tc.start))
			env.RegisterWorkflow(Report)
			action, err := workflow.NewScheduleAction(Report, "eu")
			if err != nil {
				t.Fatal(err)
			}
			spec := workflow.ScheduleSpec{Cron: []string{"0 30 2 * * *"}, TimeZone: "Europe/Berlin"}
			if err := env.CreateSchedule("nightly", spec, action, workflow.SchedulePolicies{}); err != nil {
				t.Fatal(err)
			}
			env.Advance(96 * time.Hour)
			d, err := env.DescribeSchedule("nightly")
			if err != nil {
				t.Fatal(err)
			}
			if got := runIDs(d); !slices.Equal(got, tc.want) {
				t.Fatalf("runs %v, want %v", got, tc.want)
			}
			for _, r := range d.Recent {
				out, err := workflowtest.Result[string](env, r.WorkflowID)
				if want := "eu at " + r.Nominal.UTC().Format(time.RFC3339); err != nil || out != want || r.Status != workflow.StatusCompleted {
					t.Errorf("%s: %q, %v, %s; want %q, completed", r.WorkflowID, out, err, r.Status, want)
				}
			}
			if d.Started != len(tc.want) || d.Skipped != 0 || d.Missed != 0 || len(d.NextFires) != 5 || !d.NextFires[0].After(env.Now()) {
				t.Errorf("started %d, skipped %d, missed %d, next %v; want %d, 0, 0 and 5 ticks ahead", d.Started, d.Skipped, d.Missed, d.NextFires, len(tc.want))
			}
		})
	}
}

// TestScheduleOverlap: an hourly schedule whose run takes 2.5 hours, over
// 10 hours, under three overlap policies.
func TestScheduleOverlap(t *testing.T) {
	h := func(hours ...int) []string {
		var ids []string
		for _, n := range hours {
			ids = append(ids, fmt.Sprintf("slow-2030010%dT%02d0000Z", 1+n/24, n%24))
		}
		return ids
	}
	for _, tc := range []struct {
		policy           workflow.OverlapPolicy
		want             []string
		started, skipped int
		open, buffered   int
	}{
		// A tick while a run is open starts nothing: 2 of every 3 go.
		{workflow.OverlapSkip, h(1, 4, 7, 10), 4, 6, 1, 0},
		{workflow.OverlapAllowAll, h(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10, 0, 3, 0},
		// One tick waits for the open run, and starts when it ends. The
		// tick of 06:00 comes before the run ending at 06:00 has closed
		// (events of one instant run in the order they were queued), so
		// it is skipped, as 03:00, 05:00, 08:00 and 10:00 are.
		{workflow.OverlapBufferOne, h(1, 2, 4, 7), 4, 5, 1, 1},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
			env.RegisterWorkflow(Slow)
			action, _ := workflow.NewScheduleAction(Slow, struct{}{})
			pol := workflow.SchedulePolicies{Overlap: tc.policy}
			if err := env.CreateSchedule("slow", workflow.ScheduleSpec{Cron: []string{"@every 1h"}}, action, pol); err != nil {
				t.Fatal(err)
			}
			env.Advance(10 * time.Hour)
			d, _ := env.DescribeSchedule("slow")
			open := 0
			for _, r := range d.Recent {
				if r.Status == workflow.StatusRunning {
					open++
				}
			}
			if got := runIDs(d); !slices.Equal(got, tc.want) {
				t.Errorf("runs %v, want %v", got, tc.want)
			}
			if d.Started != tc.started || d.Skipped != tc.skipped || open != tc.open || d.Buffered != tc.buffered {
				t.Errorf("started %d, skipped %d, open %d, buffered %d; want %d, %d, %d, %d", d.Started, d.Skipped, open, d.Buffered,
					tc.started, tc.skipped, tc.open, tc.buffered)
			}
		})
	}
}

func TestScheduleLimitAndRunsStartedDuringAnExecution(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
	env.RegisterWorkflow(Report)
	action, _ := workflow.NewScheduleAction(Report, "us")
	if err := env.CreateSchedule("every10m", workflow.ScheduleSpec{Cron: []string{"@every 10m"}}, action, workflow.SchedulePolicies{Limit: 3}); err != nil {
		t.Fatal(err)
	}
	// A run that sleeps an hour: the schedule goes on meanwhile, up to its
	// limit, and the run's end is not held up by it.
	if out, err := workflowtest.ExecuteWorkflow(env, Slow, struct{}{}); err != nil || out != "done" {
		t.Fatalf("got %q, %v", out, err)
	}
	d, _ := env.DescribeSchedule("every10m")
	if want := []string{"every10m-20300101T001000Z", "every10m-20300101T002000Z", "every10m-20300101T003000Z"}; !slices.Equal(runIDs(d), want) || d.Done != "limit" {
		t.Errorf("runs %v, done %q; want %v, limit", runIDs(d), d.Done, want)
	}
	if got := env.Now().Sub(epoch); got != 150*time.Minute {
		t.Errorf("the clock moved %s, want 150m", got)
	}
}

func TestScheduleThatWaitsForEverDoesNotHoldTheRun(t *testing.T) {
	env := workflowtest.NewEnv(t)
	env.RegisterWorkflow(Report)
	action, _ := workflow.NewScheduleAction(Report, "us")
	if err := env.CreateSchedule("often", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, action, workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	wf := workflow.New("Waits", func(ctx workflow.Context, _ struct{}) (string, error) {
		return Confirmed.Receive(ctx)
	})
	if _, err := workflowtest.ExecuteWorkflow(env, wf, struct{}{}); !errors.Is(err, workflowtest.ErrBlocked) {
		t.Fatalf("got %v, want the run blocked", err)
	}
}

func TestCreateScheduleRefuses(t *testing.T) {
	env := workflowtest.NewEnv(t)
	env.RegisterWorkflow(Report)
	good, _ := workflow.NewScheduleAction(Report, "eu")
	other, _ := workflow.NewScheduleAction(Slow, struct{}{})
	daily := workflow.ScheduleSpec{Cron: []string{"@daily"}}
	if err := env.CreateSchedule("s", daily, good, workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id, field string
		spec            workflow.ScheduleSpec
		action          workflow.ScheduleAction
		pol             workflow.SchedulePolicies
	}{
		{"unregistered workflow", "a", "workflow", daily, other, workflow.SchedulePolicies{}},
		{"bad cron", "b", "cron[0] minute", workflow.ScheduleSpec{Cron: []string{"0 99 * * * *"}}, good, workflow.SchedulePolicies{}},
		{"bad overlap", "c", "overlap", daily, good, workflow.SchedulePolicies{Overlap: "queue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.CreateSchedule(tc.id, tc.spec, tc.action, tc.pol)
			var se *workflow.ScheduleError
			if !errors.As(err, &se) || se.Field != tc.field {
				t.Errorf("got %v, want a ScheduleError on %s", err, tc.field)
			}
		})
	}
	if err := env.CreateSchedule("s", daily, good, workflow.SchedulePolicies{}); !errors.Is(err, workflow.ErrScheduleExists) {
		t.Errorf("a second schedule s: got %v, want ErrScheduleExists", err)
	}
	if _, err := env.DescribeSchedule("nope"); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("describing an unknown schedule: got %v, want ErrNotFound", err)
	}
}
