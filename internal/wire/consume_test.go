package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestConsumerConfig(t *testing.T) {
	cfg := ConsumerConfig("step_charge", "wt.step.charge", 45*time.Second, 1200)
	want := jetstream.ConsumerConfig{
		Durable:       "step_charge",
		FilterSubject: "wt.step.charge",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       45 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1200,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestConsumeDeliversEachMessageOnceWithinSlots(t *testing.T) {
	tests := []struct {
		name      string
		slots     int
		wantSlots int
		knownBug  string
	}{
		{"two slots", 2, 2, ""},
		{"four slots", 4, 4, ""},
		{"one slot", 1, 1, ""},
		{"zero slots means one", 0, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.knownBug != "" {
				t.Skip(tt.knownBug)
			}
			env := startEnv(t)
			ctx := testContext(t, 30*time.Second)
			subj := env.Names.StepSubject("once")
			const n = 40
			want := publishN(t, ctx, env, subj, "m", n)

			got := newDeliveries()
			var running, maxRunning atomic.Int64
			var redelivered atomic.Int64
			// The first handlers wait until every slot is taken once, so
			// the test sees Consume fill its slots, not just stay under.
			filled := make(chan struct{})
			var fillOnce sync.Once
			cfg := ConsumerConfig("step_once", subj, time.Minute, 1000)
			startConsume(t, env, cfg, tt.slots, discardLog(), func(m jetstream.Msg) {
				now := running.Add(1)
				for {
					old := maxRunning.Load()
					if now <= old || maxRunning.CompareAndSwap(old, now) {
						break
					}
				}
				if now == int64(tt.wantSlots) {
					fillOnce.Do(func() { close(filled) })
				}
				select {
				case <-filled:
				case <-time.After(5 * time.Second):
				}
				if md, err := m.Metadata(); err != nil || md.NumDelivered != 1 {
					redelivered.Add(1)
				}
				got.add(string(m.Data()))
				if err := m.DoubleAck(ctx); err != nil {
					t.Errorf("acking %s: %v", m.Data(), err)
				}
				running.Add(-1)
			})

			waitFor(t, 20*time.Second, "every message to be handled", func() bool { return got.has(want...) })
			waitFor(t, 5*time.Second, "no message left unacknowledged", func() bool {
				ci := consumerInfo(t, ctx, env, "step_once")
				return ci.NumAckPending == 0 && ci.NumPending == 0
			})
			for data, count := range got.snapshot() {
				if count != 1 {
					t.Errorf("%s handled %d times, want once", data, count)
				}
			}
			if got := len(got.snapshot()); got != n {
				t.Errorf("got %d distinct messages, want %d", got, n)
			}
			if got := redelivered.Load(); got != 0 {
				t.Errorf("got %d redelivered messages, want 0", got)
			}
			if got, want := maxRunning.Load(), int64(tt.wantSlots); got != want {
				t.Errorf("got at most %d handlers at once, want %d", got, want)
			}
		})
	}
}

func TestConsumeRecreatesDeletedConsumer(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 30*time.Second)
	subj := env.Names.WorkflowSubject("deleted")
	const name = "wf_deleted"
	got := newDeliveries()
	cfg := ConsumerConfig(name, subj, time.Minute, 1000)
	startConsume(t, env, cfg, 2, discardLog(), func(m jetstream.Msg) {
		got.add(string(m.Data()))
		_ = m.Ack()
	})
	first := publishN(t, ctx, env, subj, "before", 3)
	waitFor(t, 10*time.Second, "the messages published before the deletion", func() bool { return got.has(first...) })

	for round := range 2 {
		// Consume is idle, its pull request waiting on the server, which
		// answers it with 409 Consumer Deleted.
		waitFor(t, 15*time.Second, "a pull request waiting on the server", func() bool {
			c, err := env.JS.Consumer(ctx, env.Names.TaskStream(), name)
			return err == nil && c.CachedInfo().NumWaiting > 0
		})
		if err := env.JS.DeleteConsumer(ctx, env.Names.TaskStream(), name); err != nil {
			t.Fatalf("round %d: deleting the consumer: %v", round, err)
		}
		more := publishN(t, ctx, env, subj, fmt.Sprintf("after%d-", round), 3)
		waitFor(t, 10*time.Second, fmt.Sprintf("the messages published after deletion %d", round+1), func() bool { return got.has(more...) })
		if _, err := env.JS.Consumer(ctx, env.Names.TaskStream(), name); err != nil {
			t.Errorf("round %d: got %v looking the consumer up, want it recreated", round, err)
		}
	}
}

func TestConsumeRecreatesDeletedConsumerWhileEverySlotIsBusy(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 30*time.Second)
	subj := env.Names.StepSubject("busy")
	const name = "step_busy"
	got := newDeliveries()
	release := make(chan struct{})
	var started atomic.Int64
	cfg := ConsumerConfig(name, subj, time.Minute, 1000)
	startConsume(t, env, cfg, 2, discardLog(), func(m jetstream.Msg) {
		if started.Add(1) <= 2 {
			<-release
		}
		got.add(string(m.Data()))
		_ = m.Ack()
	})
	publishN(t, ctx, env, subj, "busy", 2)
	waitFor(t, 10*time.Second, "both slots to be busy and no pull request to wait on the server", func() bool {
		if started.Load() != 2 {
			return false
		}
		ci := consumerInfo(t, ctx, env, name)
		return ci.NumWaiting == 0 && ci.NumAckPending == 2
	})
	if err := env.JS.DeleteConsumer(ctx, env.Names.TaskStream(), name); err != nil {
		t.Fatalf("deleting the consumer: %v", err)
	}
	close(release)
	more := publishN(t, ctx, env, subj, "after", 3)
	waitFor(t, 5*time.Second, "the messages published after the deletion", func() bool { return got.has(more...) })
}

// TestConsumeRecoversStalledPull produces a real stall: the pull request
// that the iterator believes is waiting on the server is lost (it went to a
// deleted consumer, and a spy subscription swallowed it so that not even a
// no-responders status came back), then the consumer reappears with
// messages pending. nats.go would notice only after two missed heartbeats
// (10 s); the watchdog must restart the pull after stallAfter.
func TestConsumeRecoversStalledPull(t *testing.T) {
	tests := []struct {
		name     string
		slots    int
		knownBug string
	}{
		{"two slots", 2, ""},
		{"one slot", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.knownBug != "" {
				t.Skip(tt.knownBug)
			}
			env := startEnv(t)
			ctx := testContext(t, 30*time.Second)
			subj := env.Names.StepSubject("stall")
			const name = "step_stall"
			got := newDeliveries()
			release := make(chan struct{})
			var started atomic.Int64
			rec := &logRecorder{}
			cfg := ConsumerConfig(name, subj, time.Minute, 1000)
			startConsume(t, env, cfg, tt.slots, slog.New(rec), func(m jetstream.Msg) {
				if started.Add(1) <= int64(tt.slots) {
					<-release
				}
				got.add(string(m.Data()))
				_ = m.Ack()
			})
			publishN(t, ctx, env, subj, "first", tt.slots)
			// Every slot busy and the last pull request filled: nothing
			// waits on the server, the next request is sent when a slot
			// frees.
			waitFor(t, 10*time.Second, "every slot to be busy with no pull request waiting", func() bool {
				if started.Load() != int64(tt.slots) {
					return false
				}
				ci := consumerInfo(t, ctx, env, name)
				return ci.NumWaiting == 0 && ci.NumAckPending == tt.slots
			})

			if err := env.JS.DeleteConsumer(ctx, env.Names.TaskStream(), name); err != nil {
				t.Fatalf("deleting the consumer: %v", err)
			}
			spy, err := env.NC.SubscribeSync(fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", env.Names.TaskStream(), name))
			if err != nil {
				t.Fatalf("subscribing the spy: %v", err)
			}
			if err := env.NC.Flush(); err != nil {
				t.Fatalf("flushing: %v", err)
			}
			close(release)
			if _, err := spy.NextMsg(10 * time.Second); err != nil {
				t.Fatalf("waiting for the pull request to be lost: %v", err)
			}
			if err := spy.Unsubscribe(); err != nil {
				t.Fatalf("unsubscribing the spy: %v", err)
			}
			// Another worker recreates the consumer; the stalled pull does
			// not know.
			if _, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(), cfg); err != nil {
				t.Fatalf("recreating the consumer: %v", err)
			}
			more := publishN(t, ctx, env, subj, "after", 2)

			waitFor(t, 20*time.Second, "the messages published after the stall", func() bool { return got.has(more...) })
			if got := rec.count(slog.LevelWarn, "pending"); got == 0 {
				t.Errorf("got %d stall warnings, want the watchdog to have restarted the pull (not the heartbeat check)", got)
			}
		})
	}
}

func TestWatchStall(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 30*time.Second)
	longAgo := func() int64 { return time.Now().Add(-2 * stallAfter).UnixNano() }
	tests := []struct {
		name string
		// pending is how many messages wait on the consumer at the start.
		pending int
		// busy is how many of two slots are taken at the start.
		busy int
		// last is when the pull last delivered, as Consume records it.
		last int64
		// unblock, when set, turns the case into a stall: the watchdog
		// must not stop the pull before it, and must after it.
		unblock func(t *testing.T, subj string, sem chan struct{}, last *atomic.Int64)
	}{{
		name:    "idle with messages pending and a free slot",
		pending: 1,
		last:    longAgo(),
	}, {
		name: "no message pending",
		last: longAgo(),
		unblock: func(t *testing.T, subj string, _ chan struct{}, _ *atomic.Int64) {
			publishN(t, ctx, env, subj, "late", 1)
		},
	}, {
		name:    "every slot busy",
		pending: 1,
		busy:    2,
		last:    longAgo(),
		unblock: func(_ *testing.T, _ string, sem chan struct{}, _ *atomic.Int64) { <-sem },
	}, {
		// A delivery that looks recent for the whole test, rather than a
		// goroutine refreshing it that a busy machine could starve.
		name:    "recent delivery",
		pending: 1,
		last:    time.Now().Add(time.Hour).UnixNano(),
		unblock: func(_ *testing.T, _ string, _ chan struct{}, last *atomic.Int64) { last.Store(longAgo()) },
	}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			subj := env.Names.StepSubject(fmt.Sprintf("watch%d", i))
			cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(),
				ConsumerConfig(fmt.Sprintf("step_watch%d", i), subj, time.Minute, 1000))
			if err != nil {
				t.Fatalf("creating the consumer: %v", err)
			}
			publishN(t, ctx, env, subj, "m", tt.pending)
			sem := make(chan struct{}, 2)
			for range tt.busy {
				sem <- struct{}{}
			}
			var last atomic.Int64
			last.Store(tt.last)
			stopped := make(chan struct{})
			var stops atomic.Int64
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			cancelWatch := watchStall(wctx, cons, &last, sem, func() {
				if stops.Add(1) == 1 {
					close(stopped)
				}
			}, discardLog())
			defer cancelWatch()

			if tt.unblock != nil {
				// Several checks (one every stallAfter/2) pass without a stop.
				time.Sleep(4 * stallAfter)
				if got := stops.Load(); got != 0 {
					t.Fatalf("got %d stops before the pull stalled, want 0", got)
				}
				tt.unblock(t, subj, sem, &last)
			}
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Fatalf("the pull was not stopped within 10s of stalling")
			}
		})
	}
}

func TestConsumeHandsBackFetchedMessagesOnShutdown(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 30*time.Second)
	subj := env.Names.StepSubject("shutdown")
	const (
		name  = "step_shutdown"
		slots = 3
		n     = 20
	)
	all := publishN(t, ctx, env, subj, "m", n)

	finishOne := make(chan struct{})
	finishAll := make(chan struct{})
	var started, finished atomic.Int64
	handled := newDeliveries()
	// A minute of AckWait: a message the second reader gets quickly was
	// handed back, not redelivered after a timeout.
	cfg := ConsumerConfig(name, subj, time.Minute, 1000)
	c := startConsume(t, env, cfg, slots, discardLog(), func(m jetstream.Msg) {
		started.Add(1)
		handled.add(string(m.Data()))
		select {
		case <-finishOne:
		case <-finishAll:
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("acking %s: %v", m.Data(), err)
		}
		finished.Add(1)
	})
	// Wait for every slot to be busy with messages fetched into the pull's
	// buffer that no handler has. nats.go sometimes skips the pull request
	// that would fetch them (the stall the watchdog exists for); letting one handler finish
	// makes Consume pull again.
	fetchedAhead := func() bool {
		return started.Load()-finished.Load() == slots && consumerInfo(t, ctx, env, name).NumAckPending > slots
	}
	for try := 0; !eventually(time.Second, fetchedAhead); try++ {
		if try == 5 {
			t.Fatalf("no message fetched ahead of the handlers after %d tries", try)
		}
		select {
		case finishOne <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("no handler started within 10s")
		}
	}
	c.cancel()

	// Another worker of the same consumer gets everything Consume did not
	// hand to a handler.
	cons, err := env.JS.Consumer(ctx, env.Names.TaskStream(), name)
	if err != nil {
		t.Fatalf("opening the consumer: %v", err)
	}
	handledByFirst := handled.snapshot()
	var rest []string
	for _, d := range all {
		if handledByFirst[d] == 0 {
			rest = append(rest, d)
		}
	}
	other := newDeliveries()
	var handedBack int
	deadline := time.Now().Add(15 * time.Second)
	for !other.has(rest...) && time.Now().Before(deadline) {
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatalf("fetching: %v", err)
		}
		for m := range batch.Messages() {
			other.add(string(m.Data()))
			if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
				handedBack++
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Errorf("acking %s: %v", m.Data(), err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatalf("fetching: %v", err)
		}
	}
	if !other.has(rest...) {
		t.Fatalf("the other worker got %v, want %v well before the one-minute AckWait", other.snapshot(), rest)
	}
	for d := range other.snapshot() {
		if handledByFirst[d] > 0 {
			t.Errorf("the other worker got %s, which the first one handled", d)
		}
	}
	if handedBack == 0 {
		t.Errorf("got no message the first worker had fetched, want those it fetched but did not handle handed back")
	}

	if c.returned() {
		t.Fatalf("Consume returned while %d handlers were still running", slots)
	}
	startedAtCancel := started.Load()
	close(finishAll)
	c.stop(t)
	if got, want := finished.Load(), startedAtCancel; got != want {
		t.Errorf("got %d handlers finished when Consume returned, want all %d started", got, want)
	}
	if got, want := int64(len(handledByFirst)), startedAtCancel; got != want {
		t.Errorf("got %d messages handled, want %d (none after shutdown)", got, want)
	}
}

// A message kept in progress stays with its handler past the ack wait; once
// keep says no more, it is delivered again after the ack wait.
func TestKeepInProgress(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 30*time.Second)
	subj := env.Names.StepSubject("kept")
	publishN(t, ctx, env, subj, "m", 1)
	var keeping atomic.Bool
	keeping.Store(true)
	deliveries := make(chan uint64, 8)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	cfg := ConsumerConfig("step_kept", subj, time.Second, 1000)
	startConsume(t, env, cfg, 4, discardLog(), func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			t.Errorf("metadata: %v", err)
			return
		}
		deliveries <- md.NumDelivered
		if md.NumDelivered > 1 {
			_ = m.Ack()
			return
		}
		stop := KeepInProgress(m, time.Second, keeping.Load)
		defer stop()
		<-release
	})
	if got := <-deliveries; got != 1 {
		t.Fatalf("first delivery numbered %d", got)
	}
	// Three ack waits kept in progress: no second delivery.
	select {
	case n := <-deliveries:
		t.Fatalf("delivered again (delivery %d) while kept in progress", n)
	case <-time.After(3 * time.Second):
	}
	keeping.Store(false)
	select {
	case n := <-deliveries:
		if n != 2 {
			t.Errorf("got delivery %d, want 2", n)
		}
	case <-ctx.Done():
		t.Fatal("not delivered again once no longer kept in progress")
	}
	free()
}
