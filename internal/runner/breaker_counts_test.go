package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// TestBreakerOverlappingSuccessResetsCount: four attempts admitted while the
// breaker has no failures complete F, F, S, F. The success came after the
// first two failures, so only one failure is consecutive and a threshold of
// 3 is not reached (jetflow before generations let the success write nothing
// because it was admitted with no failures pending, and the breaker opened).
func TestBreakerOverlappingSuccessResetsCount(t *testing.T) {
	w := newBreakerWorld(t)
	b1, b2 := w.worker("w1", nil), w.worker("w2", nil)
	p := steps.BreakerPolicy{Name: "overlap", FailureThreshold: 3, ResetTimeout: time.Minute}
	var permits []*breakerPermit
	for i := range 4 {
		permits = append(permits, mustAdmit(t, []*breakers{b1, b2}[i%2], p))
	}
	for i, o := range []breakerOutcome{outcomeFailure, outcomeFailure, outcomeSuccess, outcomeFailure} {
		mustReport(t, []*breakers{b1, b2}[i%2], permits[i], o)
	}
	rec, _ := readBreaker(t, b1, "overlap")
	if rec.State != kv.BreakerClosed || rec.Failures != 1 || rec.Opens != 0 {
		t.Fatalf("after F, F, S, F: got %s, %d consecutive failures, %d opens; want closed, 1, 0", rec.State, rec.Failures, rec.Opens)
	}
	// Two more failures are three in a row.
	for range 2 {
		mustReport(t, b2, mustAdmit(t, b2, p), outcomeFailure)
	}
	if rec, _ := readBreaker(t, b1, "overlap"); rec.State != kv.BreakerOpen {
		t.Fatalf("after F, F, S, F, F, F: got %s, want open", rec.State)
	}
	if got := transitions(w.drainEvents()); fmt.Sprint(got) != "[closed>open]" {
		t.Fatalf("transitions: got %v, want [closed>open]", got)
	}
}

// TestBreakerStaleGenerationIgnored: an attempt admitted while closed
// reports after the breaker opened, probed and closed again; its failure
// belongs to the old generation and does not count toward the new one, nor
// does an old success clear the new generation's failures.
func TestBreakerStaleGenerationIgnored(t *testing.T) {
	w := newBreakerWorld(t)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := w.worker("w1", clock)
	p := steps.BreakerPolicy{Name: "stale", FailureThreshold: 2, ResetTimeout: time.Minute}

	lateFailure, lateSuccess := mustAdmit(t, b, p), mustAdmit(t, b, p)
	for range 2 {
		mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	}
	clock.Add(time.Minute)
	mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess) // the probe closes it
	rec, _ := readBreaker(t, b, "stale")
	if rec.State != kv.BreakerClosed || rec.Generation != 3 {
		t.Fatalf("after open, probe, close: got %s in generation %d, want closed in generation 3", rec.State, rec.Generation)
	}

	mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	_, rev := readBreaker(t, b, "stale")
	mustReport(t, b, lateFailure, outcomeFailure)
	mustReport(t, b, lateSuccess, outcomeSuccess)
	rec, got := readBreaker(t, b, "stale")
	if rec.State != kv.BreakerClosed || rec.Failures != 1 || got != rev {
		t.Fatalf("after the late outcomes: got %s, %d failures, revision %d; want closed, 1, revision %d (nothing written)", rec.State, rec.Failures, got, rev)
	}
	mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	if rec, _ := readBreaker(t, b, "stale"); rec.State != kv.BreakerOpen || rec.Opens != 2 {
		t.Fatalf("after a second failure of the new generation: got %s (opens %d), want open (opens 2)", rec.State, rec.Opens)
	}
}

// TestBreakerRepairsImpossibleRecords: a record the state machine could not
// have written is repaired on the next attempt, with an event, instead of
// switching the breaker off or blocking its channel until a manual reset.
func TestBreakerRepairsImpossibleRecords(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	farAway := now.AddDate(100, 0, 0)
	const lease = time.Minute
	tests := []struct {
		name string
		rec  kv.Breaker
		// run says whether the next attempt runs; probe whether as a probe.
		run, probe bool
		state      string
		event      string // from>to reason
	}{
		{"unknown state", kv.Breaker{State: "bogus", Failures: 7, Opens: 2, Generation: 4},
			true, false, kv.BreakerClosed, "corrupt>closed unknown_state"},
		{"empty state", kv.Breaker{Failures: 7},
			true, false, kv.BreakerClosed, "corrupt>closed unknown_state"},
		{"probe lease a century ahead", kv.Breaker{State: kv.BreakerHalfOpen, Failures: 1, Opens: 1, Generation: 2,
			Probes: []kv.BreakerProbe{{ID: "zz", Worker: "gone", StartedAt: now, LeaseUntil: farAway}}},
			true, true, kv.BreakerHalfOpen, "half_open>half_open impossible_lease"},
		{"open a century", kv.Breaker{State: kv.BreakerOpen, Failures: 1, Opens: 1, Generation: 1, OpenedAt: now, OpenUntil: farAway},
			true, true, kv.BreakerHalfOpen, "open>half_open impossible_open_until"},
		// Deadlines a worker could have set are honoured.
		{"longer lease of another step", kv.Breaker{State: kv.BreakerHalfOpen, Failures: 1, Opens: 1, Generation: 2,
			Probes: []kv.BreakerProbe{{ID: "long", StartedAt: now, LeaseUntil: now.Add(10 * lease), Lease: 10 * lease}}},
			false, false, kv.BreakerHalfOpen, ""},
		{"lease within the clock skew", kv.Breaker{State: kv.BreakerHalfOpen, Failures: 1, Opens: 1, Generation: 2,
			Probes: []kv.BreakerProbe{{ID: "ahead", StartedAt: now, LeaseUntil: now.Add(lease + maxClockSkew)}}},
			false, false, kv.BreakerHalfOpen, ""},
		{"open for its reset timeout", kv.Breaker{State: kv.BreakerOpen, Failures: 1, Opens: 1, Generation: 1, OpenedAt: now, OpenUntil: now.Add(time.Minute)},
			false, false, kv.BreakerOpen, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newBreakerWorld(t)
			b := w.worker("w1", &fakeClock{t: now})
			p := steps.BreakerPolicy{Name: "repair", FailureThreshold: 2, ResetTimeout: time.Minute}
			tt.rec.Name = "repair"
			data, err := kv.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.bucket.Put(context.Background(), "repair", data); err != nil {
				t.Fatal(err)
			}
			permit, refused, err := b.admit(context.Background(), p, lease)
			if err != nil {
				t.Fatalf("admit: %v", err)
			}
			if got := permit != nil; got != tt.run {
				t.Fatalf("admitted: got %v (refusal %v), want %v", got, refused, tt.run)
			}
			if tt.run && (permit.probe != "") != tt.probe {
				t.Fatalf("probe: got %q, want a probe %v", permit.probe, tt.probe)
			}
			rec, _ := readBreaker(t, b, "repair")
			if rec.State != tt.state {
				t.Fatalf("state: got %q, want %s", rec.State, tt.state)
			}
			var got []string
			for _, ev := range w.drainEvents() {
				got = append(got, ev.From+">"+ev.To+" "+ev.Reason)
				if ev.Reason != "reset_timeout" && ev.Error == "" {
					t.Errorf("repair event without an error: %+v", ev)
				}
			}
			want := []string{}
			if tt.event != "" {
				want = append(want, tt.event)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events: got %v, want %v", got, want)
			}
			if !tt.run {
				return
			}
			// A repair that changes the state starts a generation; dropping
			// an impossible probe does not.
			if moved := rec.Generation > tt.rec.Generation; moved != (tt.rec.State != tt.state) || permit.generation != rec.Generation {
				t.Fatalf("generation: record %d (was %d), permit %d; want a new one only for a new state, held by the permit", rec.Generation, tt.rec.Generation, permit.generation)
			}
			if tt.state == kv.BreakerClosed {
				// Repaired, it is a working breaker again: two failures open it.
				if rec.Failures != 0 || rec.Opens != tt.rec.Opens {
					t.Fatalf("repaired record: %d failures, %d opens; want 0 and %d", rec.Failures, rec.Opens, tt.rec.Opens)
				}
				mustReport(t, b, permit, outcomeFailure)
				mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
				mustRefuse(t, b, p)
				return
			}
			// The repaired probe decides: its success closes the breaker.
			mustReport(t, b, permit, outcomeSuccess)
			if rec, _ := readBreaker(t, b, "repair"); rec.State != kv.BreakerClosed || len(rec.Probes) != 0 {
				t.Fatalf("after the probe: got %s with probes %+v, want closed with none", rec.State, rec.Probes)
			}
		})
	}
}

// TestBreakerFailureRate: a rate policy opens when the failures reach the
// rate among at least MinimumCalls calls of the window, not before, and
// calls that slid out of the window no longer count.
func TestBreakerFailureRate(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := func(name string) steps.BreakerPolicy {
		return steps.BreakerPolicy{Name: name, FailureRateThreshold: 0.5, MinimumCalls: 10, Window: 10 * time.Second, ResetTimeout: time.Minute}
	}
	outcomes := func(t *testing.T, b *breakers, p steps.BreakerPolicy, spec string) {
		t.Helper()
		for _, c := range spec {
			o := outcomeSuccess
			if c == 'F' {
				o = outcomeFailure
			}
			mustReport(t, b, mustAdmit(t, b, p), o)
		}
	}
	state := func(t *testing.T, b *breakers, name string) kv.Breaker {
		t.Helper()
		rec, _ := readBreaker(t, b, name)
		return rec
	}

	t.Run("opens at the rate once MinimumCalls completed", func(t *testing.T) {
		w := newBreakerWorld(t)
		clock := &fakeClock{t: t0}
		b := w.worker("w1", clock)
		p := policy("rate")
		outcomes(t, b, p, "FFFF") // 100 % of 4 calls: too few to judge
		_, rev := readBreaker(t, b, "rate")
		outcomes(t, b, p, "S")
		if _, got := readBreaker(t, b, "rate"); got == rev {
			t.Fatal("a success under a rate policy wrote nothing; the window must count it")
		}
		outcomes(t, b, p, "SSSSS") // 4 of 10: 40 %
		if rec := state(t, b, "rate"); rec.State != kv.BreakerClosed {
			t.Fatalf("at 4 failures of 10 calls: got %s, want closed", rec.State)
		}
		clock.Add(time.Second)
		outcomes(t, b, p, "F") // 5 of 11: 45 %
		if rec := state(t, b, "rate"); rec.State != kv.BreakerClosed {
			t.Fatalf("at 5 failures of 11 calls: got %s, want closed", rec.State)
		}
		outcomes(t, b, p, "F") // 6 of 12: 50 %
		rec := state(t, b, "rate")
		if rec.State != kv.BreakerOpen || len(rec.Window) != 0 {
			t.Fatalf("at 6 failures of 12 calls: got %s with window %+v, want open with the window cleared", rec.State, rec.Window)
		}
		evs := w.drainEvents()
		if len(evs) != 1 || evs[0].Reason != "failure_rate" || evs[0].Calls != 12 || evs[0].Failures != 6 {
			t.Fatalf("events: got %+v, want one closed>open for failure_rate with 6 failures of 12 calls", evs)
		}
		// The closed generation starts with an empty window.
		clock.Add(time.Minute)
		outcomes(t, b, p, "S")
		if rec := state(t, b, "rate"); rec.State != kv.BreakerClosed || len(rec.Window) != 0 {
			t.Fatalf("after the probe: got %s with window %+v, want closed and empty", rec.State, rec.Window)
		}
		outcomes(t, b, p, "FFFFFFFFF")
		if rec := state(t, b, "rate"); rec.State != kv.BreakerClosed {
			t.Fatalf("9 failures after closing: got %s, want closed (9 calls < MinimumCalls)", rec.State)
		}
	})

	t.Run("the window slides", func(t *testing.T) {
		for _, tt := range []struct {
			later time.Duration
			want  string
		}{
			{9 * time.Second, kv.BreakerOpen},    // the first bucket is still in the window
			{10 * time.Second, kv.BreakerClosed}, // it slid out
			{time.Hour, kv.BreakerClosed},        // long gone
			{9999 * time.Millisecond, kv.BreakerOpen},
		} {
			t.Run(tt.later.String(), func(t *testing.T) {
				w := newBreakerWorld(t)
				clock := &fakeClock{t: t0}
				b := w.worker("w1", clock)
				p := policy("slide")
				outcomes(t, b, p, "FFFFF")
				clock.Add(tt.later)
				outcomes(t, b, p, "SSSSS")
				if rec := state(t, b, "slide"); rec.State != tt.want {
					t.Fatalf("5 failures, then %s later 5 successes: got %s, want %s", tt.later, rec.State, tt.want)
				}
			})
		}
	})

	t.Run("the window stays bounded", func(t *testing.T) {
		w := newBreakerWorld(t)
		clock := &fakeClock{t: t0}
		b := w.worker("w1", clock)
		p := policy("bounded")
		p.FailureRateThreshold = 0.9
		for range 40 {
			outcomes(t, b, p, "SF")
			clock.Add(700 * time.Millisecond)
		}
		rec := state(t, b, "bounded")
		calls, failures := rec.WindowCounts(clock.Now(), p.Window)
		if len(rec.Window) > kv.BreakerWindowBuckets || calls > 30 || calls < 24 || failures*2 != calls {
			t.Fatalf("window: %d buckets, %d calls, %d failures; want at most %d buckets holding the last 9 to 10 s (24–30 calls, half failed)",
				len(rec.Window), calls, failures, kv.BreakerWindowBuckets)
		}
	})

	t.Run("consecutive failures too when FailureThreshold is set", func(t *testing.T) {
		w := newBreakerWorld(t)
		b := w.worker("w1", &fakeClock{t: t0})
		p := policy("both")
		p.FailureThreshold = 3
		outcomes(t, b, p, "FF")
		if rec := state(t, b, "both"); rec.State != kv.BreakerClosed {
			t.Fatalf("after 2 failures: got %s, want closed", rec.State)
		}
		outcomes(t, b, p, "F")
		evs := w.drainEvents()
		if rec := state(t, b, "both"); rec.State != kv.BreakerOpen || len(evs) != 1 || evs[0].Reason != "failure_threshold" {
			t.Fatalf("after 3 failures: got %s with events %+v, want open for failure_threshold", rec.State, evs)
		}
	})
}

func TestBreakerInvalidPolicy(t *testing.T) {
	b := newBreakers(nil, "w", nil)
	for _, p := range []steps.BreakerPolicy{
		{Name: "no.dots"},
		{Name: "rate", FailureRateThreshold: 1.5},
		{Name: "rate", FailureRateThreshold: -0.1},
	} {
		_, refused, err := b.admit(context.Background(), p, time.Minute)
		if err != nil || refused == nil || refused.Type != steps.TypeInvalidBreaker || !refused.NonRetryable {
			t.Errorf("%+v: got %#v, %v; want a non-retryable InvalidBreaker", p, refused, err)
		}
	}
}
