package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Fault kinds.
const (
	// FaultKillWorker SIGKILLs a random worker and starts a new one in its place.
	FaultKillWorker = "kill_worker"
	// FaultPauseWorker SIGSTOPs a random worker past AckWait, then SIGCONTs it.
	FaultPauseWorker = "pause_worker"
	// FaultRestartServer SIGKILLs the server and restarts it on the same store.
	FaultRestartServer = "restart_server"
	// FaultPoison publishes junk just under the server's max_payload on a
	// task subject: it must be parked once, never redelivered in a loop.
	FaultPoison = "poison_message"
	// FaultForgedID publishes junk on the first step subject of the next
	// order, before that order starts, with the deduplication ID its first
	// step task had before runs had incarnations (<id>.1.1.step): the order
	// must run as if nothing happened, and the junk be parked.
	FaultForgedID = "forged_msg_id"
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

// planFaults draws the kinds of n faults in random order: a tenth each of
// poison messages and forged deduplication IDs, and of the rest about half
// worker kills, a third pauses and a fifth server restarts; at least one
// of each kind when n >= 5.
func planFaults(rnd *rand.Rand, n int) []string {
	if n < 5 {
		return []string{FaultKillWorker, FaultPauseWorker, FaultRestartServer, FaultPoison, FaultForgedID}[:n]
	}
	poison := max(1, n/10)
	forged := max(1, n/10)
	m := n - poison - forged
	servers := max(1, (m+2)/5)
	pauses := max(1, (m*3+5)/10)
	kills := m - servers - pauses
	var plan []string
	for _, k := range []struct {
		kind string
		n    int
	}{{FaultKillWorker, kills}, {FaultPauseWorker, pauses}, {FaultRestartServer, servers}, {FaultPoison, poison}, {FaultForgedID, forged}} {
		for range k.n {
			plan = append(plan, k.kind)
		}
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
	// js publishes junk on the task subjects, at most maxPayload bytes;
	// runs are the runs being started, for a forged ID's victim.
	js         jetstream.JetStream
	maxPayload int64
	runs       []*run
	junk       []junk
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
		case FaultPoison:
			f.What, err = in.poison(ctx)
		case FaultForgedID:
			f.What, err = in.forge(ctx)
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
