package chaos

import (
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Config sizes a chaos run. Zero fields take the documented defaults.
type Config struct {
	// Binary is the jetflow binary the server and workers run (see Build).
	Binary string
	// Dir holds the server's store and every process's log; it must exist.
	Dir string
	// Workflows is how many runs are started: orders of the demo's mix, and
	// among them Long, FanOuts and Races runs of the exercise workflows.
	// Default 100.
	Workflows int
	// Long is how many LongChain runs are started: the first counts
	// LongSteps one step after the other, the others between 300 and
	// LongSteps; each continues as new every 150 to 300 steps. Default 1
	// run of 400 steps; negative: none.
	Long, LongSteps int
	// FanOuts is how many FanOut runs are started: the first starts
	// FanOutWidth steps at once, the others between 200 and FanOutWidth.
	// Default 1 run of 250 steps; negative: none.
	FanOuts, FanOutWidth int
	// Races is how many StepOrTimer runs are started, half of them meant to
	// be won by the step, half by the timer. Default 4; negative: none.
	Races int
	// Signalers is how many SignalCollector runs are started, early in the
	// window; the driver sends each between SignalsPerRun/2 and
	// 3×SignalsPerRun/2 numbered signals spread over the rest of the
	// window, the faults' time. Default 6 runs of 20 signals; negative:
	// none.
	Signalers, SignalsPerRun int
	// Cancels is how many CancelChain runs are started; the driver cancels
	// each at a random point of its expected life, some after it ended.
	// Default 10; negative: none.
	Cancels int
	// CancelStepError makes the CancelChain runs return the error Get gave
	// them (demo.CancelInput.StepError), as workflow code is documented to
	// do, rather than take a Mark halted by the cancel for the
	// cancellation (see doc.go). TestChaos sets it unless
	// JETFLOW_CHAOS_CANCEL_STEP_ERROR=0.
	CancelStepError bool
	// SignalTick makes every other SignalCollector run wait in a selector
	// beside a timer renewed as it fires, instead of in Receive (see
	// doc.go). TestChaos sets it unless JETFLOW_CHAOS_SIGNAL_TICK=0.
	SignalTick bool
	// NoSchedule leaves out the schedule that otherwise ticks every second
	// through the window, each tick starting a small LongChain run
	// (schedule.go); ScheduleCatchup is its catch-up window (default 1
	// minute, longer than any outage the faults make, so that every tick
	// must start its run).
	NoSchedule      bool
	ScheduleCatchup time.Duration
	// Faults is how many faults are injected (a server kill and restart, a
	// worker kill and restart, a pause and wake-up, a poison message, a
	// forged deduplication ID each count one); at least one of each kind
	// when Faults >= 5. Default 5.
	Faults int
	// Workers is how many worker processes serve at once. Default 3.
	Workers int
	// AckWait is the workers' AckWait: how long a task a dead or paused
	// worker holds waits before another worker gets it. Default 1s.
	AckWait time.Duration
	// Pause is how long a paused worker sleeps before SIGCONT; it must be
	// past AckWait so that its tasks are redone meanwhile. Default
	// 2×AckWait + 500ms.
	Pause time.Duration
	// Latency is added to every step attempt by the demo's services, so that
	// faults find attempts in flight. Default 100ms.
	Latency time.Duration
	// Window is how long orders are started for; the faults are spread
	// over it too. Default 8s.
	Window time.Duration
	// FinishTimeout bounds the wait, after the window, for every run to
	// reach a terminal status; runs still open then are unfinished.
	// Default 2m.
	FinishTimeout time.Duration
	// SweepInterval and SweepGrace are the workers' sweeper settings
	// (--sweep-interval, --sweep-grace): short, so that a run that lost a
	// message is repaired within the chaos run. Default 1s and 3s.
	SweepInterval, SweepGrace time.Duration
	// Seed draws the orders and the faults; the same seed gives the same
	// orders and the same sequence of fault kinds. Default 1.
	Seed uint64
	// Logf, when set, is told what the harness does (faults, progress).
	Logf func(format string, args ...any)
}

// Short is the form `make test` runs: at least 100 workflows and 5 faults
// in well under a minute.
func Short() Config {
	return Config{Workflows: 120, Faults: 8, Window: 8 * time.Second, FinishTimeout: 90 * time.Second,
		Long: 1, LongSteps: 400, FanOuts: 1, FanOutWidth: 250, Races: 4, Signalers: 6, SignalsPerRun: 20, Cancels: 10}
}

// Full is the form `make chaos` runs: at least 1,000 workflows and 30 faults.
func Full() Config {
	return Config{Workflows: 1000, Faults: 40, Window: 60 * time.Second, FinishTimeout: 5 * time.Minute,
		Long: 3, LongSteps: 2000, FanOuts: 3, FanOutWidth: 500, Races: 10, Signalers: 40, SignalsPerRun: 60, Cancels: 100}
}

// ErrConfig wraps every configuration problem Run refuses.
var ErrConfig = errors.New("chaos: invalid configuration")

func (c *Config) resolve() error {
	if c.Binary == "" || c.Dir == "" {
		return fmt.Errorf("%w: Binary and Dir are required", ErrConfig)
	}
	if c.Workflows <= 0 {
		c.Workflows = 100
	}
	if c.Faults < 0 {
		return fmt.Errorf("%w: %d faults", ErrConfig, c.Faults)
	}
	if c.Faults == 0 {
		c.Faults = 5
	}
	if c.Workers <= 0 {
		c.Workers = 3
	}
	if c.Workers < 2 {
		return fmt.Errorf("%w: %d workers; a paused worker needs another to take its tasks", ErrConfig, c.Workers)
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Second
	}
	if c.Pause <= 0 {
		c.Pause = 2*c.AckWait + 500*time.Millisecond
	}
	if c.Pause <= c.AckWait {
		return fmt.Errorf("%w: pause %s must be past AckWait %s", ErrConfig, c.Pause, c.AckWait)
	}
	if c.Latency <= 0 {
		c.Latency = 100 * time.Millisecond
	}
	if c.Window <= 0 {
		c.Window = 8 * time.Second
	}
	if c.FinishTimeout <= 0 {
		c.FinishTimeout = 2 * time.Minute
	}
	if c.Long == 0 {
		c.Long = 1
	}
	if c.LongSteps <= 0 {
		c.LongSteps = 400
	}
	if c.FanOuts == 0 {
		c.FanOuts = 1
	}
	if c.FanOutWidth <= 0 {
		c.FanOutWidth = 250
	}
	if c.Races == 0 {
		c.Races = 4
	}
	if c.Signalers == 0 {
		c.Signalers = 6
	}
	if c.SignalsPerRun <= 0 {
		c.SignalsPerRun = 20
	}
	if c.Cancels == 0 {
		c.Cancels = 10
	}
	if shapes := max(c.Long, 0) + max(c.FanOuts, 0) + max(c.Races, 0) + max(c.Signalers, 0) + max(c.Cancels, 0); shapes >= c.Workflows {
		return fmt.Errorf("%w: %d workflows leave no room for orders beside %d exercise runs", ErrConfig, c.Workflows, shapes)
	}
	if c.ScheduleCatchup <= 0 {
		c.ScheduleCatchup = workflow.DefaultCatchupWindow
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.SweepGrace <= 0 {
		c.SweepGrace = 3 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}
