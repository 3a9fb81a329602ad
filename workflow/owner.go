package workflow

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go"
)

// Run affinity: a run lives in the memory of the worker that last moved it
// (its owner). The tasks that worker publishes (steps, timers) name it, and
// whichever worker ends up with the task's outcome asks the owner, with a
// core NATS request, to move the run; only when the owner does not answer
// (gone, paused, no longer holding the run) does it move the run itself,
// rebuilding it from the history. The request is a hint like any task
// message: the owner reads the result from the bucket.

// Answers of the owner.
const (
	ownerOK   = "ok"
	ownerMiss = "miss"
)

// newInstance names one Worker value on the wire: unique, so that two
// workers started with the same WithName still get their own wake-ups.
func newInstance() string { return strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix) }

// serveOwner answers wake-up requests for the runs this worker holds, until
// the subscription is drained. work is the context tasks run under.
func (w *Worker) serveOwner(work context.Context) (*nats.Subscription, error) {
	sem := make(chan struct{}, 256)
	return w.env.NC.Subscribe(w.env.Names.OwnerSubject(w.instance), func(m *nats.Msg) {
		var t wire.WorkflowTask
		if err := kv.Unmarshal(m.Data, &t); err != nil || ValidateID(t.WorkflowID) != nil {
			return
		}
		// A request read right after a freeze may have waited it out, and
		// its asker moved the run: noticing the freeze first drops every
		// run held, so the answer is no. (A failover is noticed by the
		// ticker: reading the connection's count takes its lock, which
		// every publish takes too.)
		w.thawed()
		def := w.registered(t.Workflow)
		if def == nil || !w.runs.holds(t.WorkflowID) || w.declineWakeups.Load() || len(t.Also) >= maxHandOver {
			_ = m.Respond([]byte(ownerMiss))
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			_ = m.Respond([]byte(ownerMiss)) // too busy: the asker moves the run
			return
		}
		go func() {
			defer func() { <-sem }()
			wks := make([]*wakeup, 0, 1+len(t.Also))
			for _, a := range append([]wire.Wake{{Reason: t.Reason, Seq: t.Seq}}, t.Also...) {
				wk := &wakeup{reason: a.Reason, exec: t.Exec, seq: a.Seq, forwarded: true}
				if a.Reason == wire.ReasonSignal {
					// Signals are the run's, not one execution's: read
					// them whichever execution the run is at.
					wk.exec = 0
				}
				wks = append(wks, wk)
			}
			if err := w.wake(work, def, t.WorkflowID, wks...); err != nil {
				_ = m.Respond([]byte(ownerMiss))
				return
			}
			for _, wk := range wks {
				if !wk.early.IsZero() || wk.notYet {
					// The asker keeps the task: it moves the run for
					// what this worker could not.
					_ = m.Respond([]byte(ownerMiss))
					return
				}
			}
			_ = m.Respond([]byte(ownerOK))
		}()
	})
}

// What asking an owner came to.
type ownerAnswer int

const (
	// notMoved: nobody to ask, or the owner said no, is gone (no
	// responders) or did not answer in time (paused, or overloaded): the
	// asker moves the run.
	notMoved ownerAnswer = iota
	// moved: the owner moved the run.
	moved
	// unsure: this worker's own connection failed over while asking (a
	// server restarting), or it thawed a moment ago and the owner did not
	// answer in time, so the silence says nothing about the owner,
	// which may hold the run still: try again later rather than take the
	// run over and race the owner.
	unsure
)

// askOwner asks the run's owner to move it for t. It does not ask itself,
// nobody, or wait longer than the ack wait's third (at most 2 s).
func (w *Worker) askOwner(ctx context.Context, owner string, t wire.WorkflowTask) ownerAnswer {
	if owner == "" || owner == w.instance || w.cfg.noLocalWake {
		return notMoved
	}
	data, err := kv.Marshal(t)
	if err != nil {
		return notMoved
	}
	rctx, cancel := context.WithTimeout(ctx, min(w.cfg.ackWait/3, 2*time.Second))
	defer cancel()
	before := w.env.NC.Stats().Reconnects
	reply, err := w.env.NC.RequestWithContext(rctx, w.env.Names.OwnerSubject(owner), data)
	switch {
	case err == nil && string(reply.Data) == ownerOK:
		return moved
	case err == nil:
		return notMoved // the owner does not hold it
	case w.env.NC.Stats().Reconnects != before || !w.env.NC.IsConnected():
		return unsure
	case errors.Is(err, nats.ErrNoResponders) && time.Since(w.reconnected()) < ownerResubscribe:
		// Just reconnected: the owner, reconnecting too, may not have
		// subscribed again yet.
		return unsure
	case ctx.Err() == nil && w.mayRace() && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)):
		// This worker thawed or failed over a moment ago: its tasks are
		// the ones most likely stale (the server gave them to others while
		// it stood still), and an owner that is there but did not answer
		// in time is likely busy with the same run. Ask again shortly
		// rather than take the run over and race it.
		return unsure
	}
	return notMoved
}

// ownerResubscribe is how long after this worker's connection came back an
// owner with no subscription may be one still reconnecting.
const ownerResubscribe = 3 * time.Second

// reconnected is when this worker last saw its connection come back (the
// zero time when it never did).
func (w *Worker) reconnected() time.Time {
	if ns := w.reconnectedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// noteReconnects records when the connection's reconnect count moves. A
// worker whose connection failed over was out of reach meanwhile: workers
// that asked it to move a run got no answer and may have moved the run
// themselves. So every run it holds is dropped and rebuilt from its history
// when next needed. (A task already deciding still commits; if another
// worker moved the run, the history's create-only write makes that a
// conflict, never a wrong history.)
func (w *Worker) noteReconnects() {
	if n := w.env.NC.Stats().Reconnects; n != w.reconnects.Load() {
		w.reconnects.Store(n)
		w.reconnectedAt.Store(time.Now().UnixNano())
		w.log.Info("jetflow: connection failed over; runs held in memory will be rebuilt from their history")
		w.dropRuns()
	}
}

// dropRuns declares every run held stale, after a freeze or a failover,
// and marks the time (see mayRace) first: a task that finds its run
// dropped finds the mark too, and claims the run.
func (w *Worker) dropRuns() {
	w.droppedAt.Store(time.Now().UnixNano())
	w.runs.forgetAll()
}

// registered returns the workflow registered under name, or nil.
func (w *Worker) registered(name string) Registrable {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.workflows[name]
}

// A frozen worker: one that stood still (SIGSTOP, a VM paused, a very long
// GC stop) for longer than half the ack wait. Meanwhile other workers may
// have taken its runs over, so every run it holds is declared stale and
// rebuilt from its history when next needed, instead of each losing a write
// to the history first. A ticker marks the time; a task that sees the mark
// too old (it runs right after the freeze, before the ticker does) or that
// was itself cut in two by the freeze notices it first.

// freezeLimit is how long the worker may stand still before its runs are
// declared stale.
func (w *Worker) freezeLimit() time.Duration { return max(w.cfg.ackWait/2, time.Second) }

// alive marks the worker as running now.
func (w *Worker) alive() { w.tick.Store(int64(time.Since(w.born))) }

// thawed reports whether the worker was frozen since the last mark; the
// first to notice declares every run stale.
func (w *Worker) thawed() bool {
	if !w.watching.Load() {
		return false // not running (or draining): the mark is not kept fresh
	}
	now := int64(time.Since(w.born))
	last := w.tick.Load()
	if time.Duration(now-last) <= w.freezeLimit() || !w.tick.CompareAndSwap(last, now) {
		return false
	}
	w.log.Info("jetflow: worker was frozen; runs held in memory will be rebuilt from their history", "frozen", time.Duration(now-last).Round(time.Millisecond))
	// Dropped first: a task that reads the count after it moved sees the
	// runs stale; one that read it before sees it move.
	w.dropRuns()
	w.freezes.Add(1)
	return true
}

// mayRace reports whether a run this worker rebuilds may be moved by
// another worker at the same time, even one this worker moved last: for
// two ack waits after it dropped its runs (a freeze or a failover), tasks
// delivered to it while it stood still come in late, and the server gave
// them to other workers meanwhile.
func (w *Worker) mayRace() bool {
	at := w.droppedAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < 2*w.cfg.ackWait
}

// freezeCount is how many freezes the worker noticed, noticing one now if
// it just thawed. A worker of steps only watches for none.
func (w *Worker) freezeCount() int64 {
	w.thawed()
	return w.freezes.Load()
}

// watchFreeze keeps the mark fresh until ctx is done.
func (w *Worker) watchFreeze(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	w.alive()
	w.watching.Store(true)
	defer w.watching.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.thawed()
			w.alive()
			w.noteReconnects()
		}
	}
}
