package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
)

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// breakerWorld is one JetStream server and a subscription to breaker events.
type breakerWorld struct {
	t      testing.TB
	srv    *testenv.Server
	events *nats.Subscription
	conns  []*nats.Conn
}

func newBreakerWorld(t testing.TB) *breakerWorld {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	sub, err := nc.SubscribeSync("jetflow.breaker.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &breakerWorld{t: t, srv: srv, events: sub, conns: []*nats.Conn{nc}}
}

// worker returns a breakers view over its own connection, as a separate
// worker process would have.
func (w *breakerWorld) worker(name string, clock *fakeClock) *breakers {
	w.t.Helper()
	nc := w.srv.Conn()
	w.conns = append(w.conns, nc)
	env, err := wire.Setup(testenv.Context(w.t, 30*time.Second), nc, wire.Config{})
	if err != nil {
		w.t.Fatalf("wire.Setup: %v", err)
	}
	b := newBreakers(env, name, slog.New(slog.DiscardHandler))
	if clock != nil {
		b.now = clock.Now
	}
	return b
}

// drainEvents returns the breaker events published so far. Every connection
// is flushed first, so events already sent have reached the subscriber.
func (w *breakerWorld) drainEvents() []steps.BreakerEvent {
	w.t.Helper()
	for _, nc := range w.conns[1:] {
		_ = nc.Flush()
	}
	_ = w.conns[0].Flush()
	var out []steps.BreakerEvent
	for {
		m, err := w.events.NextMsg(100 * time.Millisecond)
		if errors.Is(err, nats.ErrTimeout) {
			return out
		}
		if err != nil {
			w.t.Fatal(err)
		}
		var ev steps.BreakerEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			w.t.Fatalf("event %s: %v", m.Subject, err)
		}
		if want := "jetflow.breaker." + ev.Name + "." + ev.To; m.Subject != want {
			w.t.Errorf("event subject: got %s, want %s", m.Subject, want)
		}
		out = append(out, ev)
	}
}

func transitions(evs []steps.BreakerEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.From+">"+ev.To)
	}
	return out
}

func readBreaker(t *testing.T, b *breakers, name string) (kv.Breaker, uint64) {
	t.Helper()
	rec, rev, err := kv.Get[kv.Breaker](context.Background(), b.bucket, name)
	if err != nil {
		t.Fatalf("reading breaker %s: %v", name, err)
	}
	return rec, rev
}

func mustAdmit(t *testing.T, b *breakers, p steps.BreakerPolicy) *breakerPermit {
	t.Helper()
	permit, refused, err := b.admit(context.Background(), p, time.Minute)
	if err != nil || refused != nil {
		t.Fatalf("admit: got refused %v, err %v; want a permit", refused, err)
	}
	return permit
}

func mustRefuse(t *testing.T, b *breakers, p steps.BreakerPolicy) {
	t.Helper()
	permit, refused, err := b.admit(context.Background(), p, time.Minute)
	if err != nil || permit != nil {
		t.Fatalf("admit: got permit %+v, err %v; want refused", permit, err)
	}
	if !errors.Is(refused, steps.ErrBreakerOpen) || !refused.NonRetryable {
		t.Fatalf("refusal: got %#v, want a non-retryable BreakerOpen", refused)
	}
}

func mustReport(t *testing.T, b *breakers, permit *breakerPermit, o breakerOutcome) {
	t.Helper()
	if err := b.report(context.Background(), permit, o); err != nil {
		t.Fatalf("report: %v", err)
	}
}

func TestBreakerStateMachine(t *testing.T) {
	w := newBreakerWorld(t)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := w.worker("w1", clock)
	p := steps.BreakerPolicy{Name: "payments", FailureThreshold: 3, ResetTimeout: time.Minute, SuccessThreshold: 2}

	// Two failures, a success: the count resets, nothing opens.
	for range 2 {
		mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	}
	if rec, _ := readBreaker(t, b, "payments"); rec.State != kv.BreakerClosed || rec.Failures != 2 {
		t.Fatalf("after 2 failures: got %s/%d, want closed/2", rec.State, rec.Failures)
	}
	mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	if rec, _ := readBreaker(t, b, "payments"); rec.Failures != 0 {
		t.Fatalf("after a success: got %d failures, want 0", rec.Failures)
	}
	// Three consecutive failures open it.
	for range 3 {
		mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	}
	rec, _ := readBreaker(t, b, "payments")
	if rec.State != kv.BreakerOpen || !rec.OpenUntil.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("after 3 failures: got %s until %v, want open until %v", rec.State, rec.OpenUntil, clock.Now().Add(time.Minute))
	}
	mustRefuse(t, b, p)
	// Another worker, with nothing cached, refuses too.
	mustRefuse(t, w.worker("w2", clock), p)

	// After ResetTimeout one probe goes through; a failed probe re-opens it.
	clock.Add(time.Minute)
	probe := mustAdmit(t, b, p)
	if probe.probe == "" {
		t.Fatal("first attempt after ResetTimeout is not a probe")
	}
	mustRefuse(t, b, p)
	mustReport(t, b, probe, outcomeFailure)
	if rec, _ := readBreaker(t, b, "payments"); rec.State != kv.BreakerOpen || rec.Opens != 2 {
		t.Fatalf("after a failed probe: got %s (opens %d), want open (opens 2)", rec.State, rec.Opens)
	}
	mustRefuse(t, b, p)

	// Two successful probes, one at a time, close it.
	clock.Add(time.Minute)
	mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	if rec, _ := readBreaker(t, b, "payments"); rec.State != kv.BreakerHalfOpen || rec.Successes != 1 || len(rec.Probes) != 0 {
		t.Fatalf("after 1 successful probe: got %s, %d successes, %d probes; want half_open, 1, 0", rec.State, rec.Successes, len(rec.Probes))
	}
	// A neutral probe (BadInput) gives its slot back and counts for nothing.
	mustReport(t, b, mustAdmit(t, b, p), outcomeNeutral)
	mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	if rec, _ := readBreaker(t, b, "payments"); rec.State != kv.BreakerClosed || rec.Failures != 0 {
		t.Fatalf("after 2 successful probes: got %s/%d, want closed/0", rec.State, rec.Failures)
	}
	mustAdmit(t, b, p)

	got := transitions(w.drainEvents())
	want := []string{"closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("transitions: got %v, want %v", got, want)
	}
}

// TestBreakerProbeRace: many workers race for the half-open probe slots and
// exactly HalfOpenMaxCalls win.
func TestBreakerProbeRace(t *testing.T) {
	for _, maxCalls := range []int{1, 3} {
		t.Run(fmt.Sprintf("HalfOpenMaxCalls=%d", maxCalls), func(t *testing.T) {
			w := newBreakerWorld(t)
			p := steps.BreakerPolicy{Name: "race", FailureThreshold: 1, ResetTimeout: time.Minute, HalfOpenMaxCalls: maxCalls}
			const workers, perWorker = 6, 8
			var bs []*breakers
			for i := range workers {
				bs = append(bs, w.worker(fmt.Sprintf("w%d", i), nil))
			}
			// Open the breaker with a deadline already past.
			past := time.Now().Add(-time.Second)
			if _, err := kv.Create(context.Background(), bs[0].bucket, "race",
				kv.Breaker{Name: "race", State: kv.BreakerOpen, Failures: 1, OpenedAt: past.Add(-time.Minute), OpenUntil: past}); err != nil {
				t.Fatal(err)
			}
			var (
				mu      sync.Mutex
				probes  []*breakerPermit
				refused int
				wg      sync.WaitGroup
			)
			start := make(chan struct{})
			for _, b := range bs {
				for range perWorker {
					wg.Go(func() {
						<-start
						permit, ref, err := b.admit(context.Background(), p, time.Minute)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err != nil:
							t.Errorf("admit: %v", err)
						case ref != nil:
							refused++
						case permit.probe == "":
							t.Errorf("admitted without a probe slot")
						default:
							probes = append(probes, permit)
						}
					})
				}
			}
			close(start)
			wg.Wait()
			if len(probes) != maxCalls || refused != workers*perWorker-maxCalls {
				t.Fatalf("got %d probes and %d refusals, want %d and %d", len(probes), refused, maxCalls, workers*perWorker-maxCalls)
			}
			rec, _ := readBreaker(t, bs[0], "race")
			if rec.State != kv.BreakerHalfOpen || len(rec.Probes) != maxCalls {
				t.Fatalf("record: got %s with %d probes, want half_open with %d", rec.State, len(rec.Probes), maxCalls)
			}
			if got := transitions(w.drainEvents()); fmt.Sprint(got) != "[open>half_open]" {
				t.Fatalf("transitions: got %v, want [open>half_open]", got)
			}
			// The probes report concurrently; a success closes it once.
			for _, pr := range probes {
				wg.Go(func() { mustReport(t, bs[0], pr, outcomeSuccess) })
			}
			wg.Wait()
			if rec, _ := readBreaker(t, bs[0], "race"); rec.State != kv.BreakerClosed {
				t.Fatalf("after the probes: got %s, want closed", rec.State)
			}
			if got := transitions(w.drainEvents()); fmt.Sprint(got) != "[half_open>closed]" {
				t.Fatalf("transitions: got %v, want [half_open>closed]", got)
			}
		})
	}
}

// TestBreakerFailureRace: concurrent failures from several workers lose no
// count and open the breaker exactly once.
func TestBreakerFailureRace(t *testing.T) {
	w := newBreakerWorld(t)
	p := steps.BreakerPolicy{Name: "flood", FailureThreshold: 10, ResetTimeout: time.Minute}
	var bs []*breakers
	for i := range 4 {
		bs = append(bs, w.worker(fmt.Sprintf("w%d", i), nil))
	}
	var permits []*breakerPermit
	for i := range 25 {
		permits = append(permits, mustAdmit(t, bs[i%len(bs)], p))
	}
	var wg sync.WaitGroup
	for i, pr := range permits {
		wg.Go(func() { mustReport(t, bs[i%len(bs)], pr, outcomeFailure) })
	}
	wg.Wait()
	rec, _ := readBreaker(t, bs[0], "flood")
	if rec.State != kv.BreakerOpen || rec.Failures != 10 || rec.Opens != 1 {
		t.Fatalf("record: got %s, %d failures, %d opens; want open, 10, 1", rec.State, rec.Failures, rec.Opens)
	}
	if got := transitions(w.drainEvents()); fmt.Sprint(got) != "[closed>open]" {
		t.Fatalf("transitions: got %v, want [closed>open]", got)
	}
}

// TestBreakerProbeLease: a probe whose worker died holds its slot only until
// its lease runs out; its late report is then ignored.
func TestBreakerProbeLease(t *testing.T) {
	w := newBreakerWorld(t)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := w.worker("w1", clock)
	p := steps.BreakerPolicy{Name: "lease", FailureThreshold: 1, ResetTimeout: time.Second}
	mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	clock.Add(time.Second)

	lease := 5 * time.Second
	zombie, refused, err := b.admit(context.Background(), p, lease)
	if err != nil || refused != nil || zombie.probe == "" {
		t.Fatalf("first probe: got %+v, %v, %v", zombie, refused, err)
	}
	mustRefuse(t, b, p)
	clock.Add(lease - time.Millisecond)
	mustRefuse(t, b, p)
	clock.Add(time.Millisecond)
	probe := mustAdmit(t, b, p)
	if probe.probe == "" || probe.probe == zombie.probe {
		t.Fatalf("second probe: got slot %q, want a new one", probe.probe)
	}
	if rec, _ := readBreaker(t, b, "lease"); len(rec.Probes) != 1 || rec.Probes[0].ID != probe.probe {
		t.Fatalf("probes: got %+v, want only %s", rec.Probes, probe.probe)
	}
	// The zombie's success comes too late to count.
	mustReport(t, b, zombie, outcomeSuccess)
	if rec, _ := readBreaker(t, b, "lease"); rec.State != kv.BreakerHalfOpen {
		t.Fatalf("after the zombie's report: got %s, want half_open", rec.State)
	}
	mustReport(t, b, probe, outcomeSuccess)
	if rec, _ := readBreaker(t, b, "lease"); rec.State != kv.BreakerClosed {
		t.Fatalf("after the probe's report: got %s, want closed", rec.State)
	}
}

// TestBreakerClosedSuccessDoesNotWrite: successes through a closed breaker
// with no pending failures leave the bucket alone.
func TestBreakerClosedSuccessDoesNotWrite(t *testing.T) {
	w := newBreakerWorld(t)
	b := w.worker("w1", nil)
	p := steps.BreakerPolicy{Name: "quiet", FailureThreshold: 3}
	for range 5 {
		mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	}
	if _, _, err := kv.Get[kv.Breaker](context.Background(), b.bucket, "quiet"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("after successes only: got %v, want no record", err)
	}
	mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	_, rev := readBreaker(t, b, "quiet")
	for range 5 {
		mustReport(t, b, mustAdmit(t, b, p), outcomeSuccess)
	}
	if rec, got := readBreaker(t, b, "quiet"); got != rev || rec.Failures != 0 {
		t.Fatalf("after more successes: revision %d, failures %d; want revision %d, 0", got, rec.Failures, rev)
	}
}

// TestBreakerCorruptRecord: bytes that do not decode are a closed breaker,
// reported once and overwritten.
func TestBreakerCorruptRecord(t *testing.T) {
	w := newBreakerWorld(t)
	b := w.worker("w1", nil)
	if _, err := b.bucket.Put(context.Background(), "broken", []byte{0xc1, 0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	p := steps.BreakerPolicy{Name: "broken", FailureThreshold: 2}
	permit := mustAdmit(t, b, p)
	rec, _ := readBreaker(t, b, "broken")
	if rec.State != kv.BreakerClosed || rec.Failures != 0 {
		t.Fatalf("repaired record: got %s/%d, want closed/0", rec.State, rec.Failures)
	}
	if permit.probe != "" || permit.generation != rec.Generation || rec.Generation == 0 {
		t.Fatalf("permit: got %+v, want a closed permit in the repaired record's generation %d (not 0)", permit, rec.Generation)
	}
	evs := w.drainEvents()
	if len(evs) != 1 || evs[0].From != "corrupt" || evs[0].To != kv.BreakerClosed || evs[0].Reason != "corrupt_record" {
		t.Fatalf("events: got %+v, want one corrupt>closed", evs)
	}
	// From now on it behaves like any breaker.
	mustReport(t, b, permit, outcomeFailure)
	mustReport(t, b, mustAdmit(t, b, p), outcomeFailure)
	mustRefuse(t, b, p)
}

func TestBreakerClassify(t *testing.T) {
	task := &Task{Retry: steps.RetryPolicy{NonRetryableErrorTypes: []string{"CardDeclined"}}}
	for _, tc := range []struct {
		name string
		err  error
		want breakerOutcome
	}{
		{"success", nil, outcomeSuccess},
		{"retryable error", steps.NewError("Unavailable", "503"), outcomeFailure},
		{"plain Go error", errors.New("connection refused"), outcomeFailure},
		{"start-to-close timeout", startToCloseError(&Task{Step: "S", Attempt: 1}), outcomeFailure},
		{"panic", &steps.Error{Type: steps.TypePanic}, outcomeFailure},
		{"business error by policy", steps.NewError("CardDeclined", "no"), outcomeSuccess},
		{"business error by flag", steps.NonRetryable("Fraud", "no"), outcomeSuccess},
		{"bad input", steps.NonRetryable(steps.TypeBadInput, "x"), outcomeNeutral},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(task, tc.err); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBreakerInvalidName(t *testing.T) {
	b := newBreakers(nil, "w", slog.New(slog.DiscardHandler))
	_, refused, err := b.admit(context.Background(), steps.BreakerPolicy{Name: "no.dots"}, time.Minute)
	if err != nil || refused == nil || refused.Type != steps.TypeInvalidBreaker || !refused.NonRetryable {
		t.Fatalf("got %#v, %v; want a non-retryable InvalidBreaker", refused, err)
	}
}
