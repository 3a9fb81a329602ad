package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Fault kinds.
const (
	// FaultKillWorker SIGKILLs a random worker and starts a new one in its place.
	FaultKillWorker = "kill_worker"
	// FaultPauseWorker SIGSTOPs a random worker past AckWait, then SIGCONTs it.
	FaultPauseWorker = "pause_worker"
	// FaultRestartServer SIGKILLs the server and restarts it on the same store.
	FaultRestartServer = "restart_server"
)

// Fault is one injected fault.
type Fault struct {
	Kind string
	// At is when it was injected, from the start of the run.
	At time.Duration
	// Time is when it was injected.
	Time time.Time
	// What says what was done, to which process.
	What string
	// InFlight is how many started runs had not closed yet, as far as the
	// harness saw their closing events.
	InFlight int
}

func (f Fault) String() string {
	return fmt.Sprintf("%6.1fs (%s) %-14s %s (%d runs in flight)", f.At.Seconds(), f.Time.UTC().Format("15:04:05.000"), f.Kind, f.What, f.InFlight)
}

// planFaults draws the kinds of n faults: about half worker kills, a third
// pauses and a fifth server restarts, at least one of each when n >= 3, in
// random order.
func planFaults(rnd *rand.Rand, n int) []string {
	if n < 3 {
		return []string{FaultKillWorker, FaultPauseWorker, FaultRestartServer}[:n]
	}
	servers := max(1, (n+2)/5)
	pauses := max(1, (n*3+5)/10)
	kills := n - servers - pauses
	var plan []string
	for range kills {
		plan = append(plan, FaultKillWorker)
	}
	for range pauses {
		plan = append(plan, FaultPauseWorker)
	}
	for range servers {
		plan = append(plan, FaultRestartServer)
	}
	rnd.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// injector applies a fault plan to a cluster, spread over a window.
type injector struct {
	c        *cluster
	cfg      *Config
	rnd      *rand.Rand
	start    time.Time
	inFlight func() int
	faults   []Fault
	woken    []<-chan struct{}
}

// run injects the plan's faults at even intervals over the window (later
// when one takes longer than its interval). Paused workers wake up on their
// own; wait waits for them.
func (in *injector) run(ctx context.Context, plan []string) error {
	every := in.cfg.Window / time.Duration(len(plan)+1)
	for i, kind := range plan {
		if err := sleepUntil(ctx, in.start.Add(time.Duration(i+1)*every)); err != nil {
			return err
		}
		f := Fault{Kind: kind, At: time.Since(in.start), Time: time.Now(), InFlight: in.inFlight()}
		var err error
		switch kind {
		case FaultKillWorker:
			w := in.c.pickWorker(in.rnd, false)
			f.What, err = in.c.killWorker(ctx, w)
		case FaultPauseWorker:
			w := in.c.pickWorker(in.rnd, true)
			for w == nil && ctx.Err() == nil {
				// Every other worker is paused: wait for one to wake.
				_ = sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
				w = in.c.pickWorker(in.rnd, true)
			}
			var woke <-chan struct{}
			if f.What, woke, err = in.c.pause(ctx, w, in.cfg.Pause); err == nil {
				in.woken = append(in.woken, woke)
			}
		case FaultRestartServer:
			f.What, err = in.c.restartServer(ctx)
		}
		if err != nil {
			return fmt.Errorf("chaos: fault %d (%s): %w", i+1, kind, err)
		}
		in.faults = append(in.faults, f)
		in.cfg.Logf("fault %d/%d at %s", i+1, len(plan), f)
	}
	return nil
}

// wait returns once every paused worker was woken up.
func (in *injector) wait() {
	for _, w := range in.woken {
		<-w
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
