package workflow

import (
	"strings"

	"github.com/jetflow-dev/jetflow/kv"
)

// Selector waits for whichever of several futures resolves first:
//
//	timer := workflow.NewTimer(ctx, 15*time.Minute)
//	pay := workflow.ExecuteStep(ctx, Charge, in)
//	workflow.NewSelector(ctx).
//		AddFuture(pay, func() { res, err = pay.Get(ctx) }).
//		AddFuture(timer, func() { timedOut = true }).
//		Select(ctx)
//
// Select runs the callback of one ready future: the one whose result reached
// the run first. The choice is part of the history (results are delivered in
// the order they were recorded), so a replay makes the same one. A future is
// selected at most once; call Select again to wait for the next.
type Selector struct {
	e     *execution
	cases []selectCase
}

type selectCase struct {
	s *slot
	// signal is set for a case that waits for a signal of that name.
	signal string
	fn     func()
	used   bool
}

// NewSelector returns an empty selector for the run of ctx.
func NewSelector(ctx Context) *Selector { return &Selector{e: ctx.state().e} }

// AddFuture adds f; fn runs when Select picks it (call f.Get inside fn: it
// returns at once).
func (s *Selector) AddFuture(f Awaitable, fn func()) *Selector {
	s.cases = append(s.cases, selectCase{s: f.slot(), fn: fn})
	return s
}

// AddSignal adds a signal: fn runs when Select picks it, that is when the
// run has received a signal of that name it has not taken (call Receive
// inside fn: it returns at once). The signal stays in the run's inbox until
// fn takes it, and the case can be selected again for the next one.
func (s *Selector) AddSignal(sig SignalChannel, fn func()) *Selector {
	s.cases = append(s.cases, selectCase{signal: sig.signalName(), fn: fn})
	return s
}

// HasPending reports whether some added future has not been selected yet.
func (s *Selector) HasPending() bool {
	for _, c := range s.cases {
		if !c.used {
			return true
		}
	}
	return false
}

// Select waits until an added future that was not selected before is ready,
// or an added signal is waiting, then runs its callback. With nothing left to
// select it returns at once; once the run is canceled (and ctx is not
// disconnected) it returns without running any, and ctx.Err says why.
func (s *Selector) Select(ctx Context) {
	if !s.HasPending() {
		return
	}
	c := ctx.state()
	pick, pickOrder := -1, 0
	s.e.wait(s.waitingOn(), func() bool {
		pick = -1
		for i, sc := range s.cases {
			order, ready := 0, false
			switch {
			case sc.used:
			case sc.signal != "":
				order, ready = s.e.signalOrder(sc.signal)
			case sc.s != nil && sc.s.ready:
				order, ready = sc.s.order, true
			}
			if ready && (pick < 0 || order < pickOrder) {
				pick, pickOrder = i, order
			}
		}
		return pick >= 0 || c.Err() != nil
	})
	if pick < 0 {
		return
	}
	if s.cases[pick].signal == "" {
		s.cases[pick].used = true
	}
	if fn := s.cases[pick].fn; fn != nil {
		fn()
	}
}

// waitingOn says what the selector waits for, for Describe and status:
// "select: signal payment-confirmed | timer 16:16:14 | step Charge".
func (s *Selector) waitingOn() string {
	var b strings.Builder
	b.WriteString("select:")
	n := 0
	for _, sc := range s.cases {
		if sc.used {
			continue
		}
		if n > 0 {
			b.WriteString(" |")
		}
		n++
		switch {
		case n > 4:
			b.WriteString(" …")
			return b.String()
		case sc.signal != "":
			b.WriteString(" signal " + sc.signal)
		case sc.s != nil && sc.s.kind == kv.KindTimer:
			b.WriteString(" timer " + sc.s.at.Format("15:04:05"))
		case sc.s != nil:
			b.WriteString(" " + sc.s.kind + " " + sc.s.name)
		}
	}
	return b.String()
}
