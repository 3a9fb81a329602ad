package workflow

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
	s    *slot
	fn   func()
	used bool
}

// NewSelector returns an empty selector for the run of ctx.
func NewSelector(ctx Context) *Selector { return &Selector{e: ctx.state().e} }

// AddFuture adds f; fn runs when Select picks it (call f.Get inside fn: it
// returns at once).
func (s *Selector) AddFuture(f Awaitable, fn func()) *Selector {
	s.cases = append(s.cases, selectCase{s: f.slot(), fn: fn})
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
// then runs its callback. With nothing left to select it returns at once.
func (s *Selector) Select(ctx Context) {
	if !s.HasPending() {
		return
	}
	pick := -1
	s.e.wait("select", func() bool {
		pick = -1
		for i, c := range s.cases {
			if c.used || c.s == nil || !c.s.ready {
				continue
			}
			if pick < 0 || c.s.order < s.cases[pick].s.order {
				pick = i
			}
		}
		return pick >= 0
	})
	s.cases[pick].used = true
	if fn := s.cases[pick].fn; fn != nil {
		fn()
	}
}
