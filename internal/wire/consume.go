package wire

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerConfig returns the durable pull consumer configuration shared by
// every worker of one workflow type or step. Redelivery is only for crashed
// workers: the engine is the only retry authority, so MaxDeliver is unlimited
// and AckWait is long enough that a live worker extends it with progress acks.
// A consumer of more than one subject (a workflow type's tasks and its start
// hints) names the others in more; Consume updates an existing consumer of
// fewer subjects in place, so its pending messages and position are kept.
func ConsumerConfig(name, subject string, ackWait time.Duration, maxAckPending int, more ...string) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(more) > 0 {
		cfg.FilterSubject = ""
		cfg.FilterSubjects = append([]string{subject}, more...)
	}
	return cfg
}

// Consume feeds messages from a durable consumer to handle, at most slots at
// a time, until ctx is done; then it waits for the handlers in flight. It
// treats every consumer error as routine: the pull is recreated at once (and
// the consumer too, when it is gone), so a stalled or deleted consumer never
// becomes a hang for the runs behind it.
func Consume(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, slots int, log *slog.Logger, handle func(jetstream.Msg)) {
	if slots <= 0 {
		slots = 1
	}
	sem := make(chan struct{}, slots)
	// running holds one token per handler at work. The watchdog reads it,
	// not sem: the pull loop holds a sem token while it waits in Next, and
	// counting that one as busy kept a one-slot consumer from ever looking
	// stalled.
	running := make(chan struct{}, slots)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Handlers run on long-lived goroutines, started as the load needs
	// them (at most slots): a goroutine per message grew a fresh stack
	// through the same deep calls every time, about 5 % of the engine's CPU.
	work := make(chan jetstream.Msg)
	defer close(work)
	workers := 0
	serve := func() {
		defer wg.Done()
		for msg := range work {
			running <- struct{}{}
			handle(msg)
			<-running
			<-sem
		}
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("jetflow: opening consumer", "consumer", cfg.Durable, "err", err)
			}
			_ = Sleep(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(slots), jetstream.PullHeartbeat(5*time.Second))
		if err != nil {
			log.Warn("jetflow: pulling", "consumer", cfg.Durable, "err", err)
			_ = Sleep(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		// On shutdown, drain rather than stop: messages already fetched
		// into the buffer are handed back below instead of waiting out
		// AckWait on a worker that will never run them.
		stop := context.AfterFunc(ctx, it.Drain)
		var last atomic.Int64
		last.Store(time.Now().UnixNano())
		stopWatch := watchStall(ctx, cons, &last, running, it.Stop, log)
		for {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			msg, err := it.Next()
			if err != nil {
				<-sem
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					log.Debug("jetflow: pull ended, recreating", "consumer", cfg.Durable, "err", err)
				}
				break
			}
			if ctx.Err() != nil {
				<-sem
				_ = msg.Nak()
				break
			}
			last.Store(time.Now().UnixNano())
			select {
			case work <- msg:
				continue
			default:
			}
			if workers < slots {
				workers++
				wg.Add(1)
				go serve()
			}
			work <- msg
		}
		stopWatch()
		stop()
		if ctx.Err() != nil {
			handBack(it)
		}
		it.Stop()
		if ctx.Err() == nil {
			_ = Sleep(ctx, 20*time.Millisecond)
		}
	}
}

// handBack naks what a draining pull still holds, so other workers get it
// at once.
func handBack(it jetstream.MessagesContext) {
	it.Drain()
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return
		}
		_ = m.Nak()
	}
}

// stallAfter is how long a pull may go without a delivery, while it has
// free slots and the consumer has messages waiting, before it is recreated.
var stallAfter = 10 * time.Second

// watchStall ends a pull that has stalled: free slots, messages pending on
// the consumer, and no delivery for stallAfter (nats.go#1622 shows such a
// pull waiting 30 s and failing). Stopping the iterator makes Consume pull
// afresh. The check costs one consumer info request per idle period.
func watchStall(ctx context.Context, cons jetstream.Consumer, last *atomic.Int64, sem chan struct{}, stop func(), log *slog.Logger) func() {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(stallAfter / 2)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, last.Load())) < stallAfter || len(sem) == cap(sem) {
				continue
			}
			info, err := cons.Info(wctx)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				// Deleted while every slot was busy: no pull request was
				// waiting to hear about it. Pull afresh, which recreates it.
				log.Warn("jetflow: consumer gone; recreating", "consumer", cons.CachedInfo().Name)
				stop()
				return
			}
			if err != nil || info.NumPending == 0 {
				continue
			}
			log.Warn("jetflow: pull stalled with messages pending; recreating", "consumer", info.Name, "pending", info.NumPending)
			stop()
			return
		}
	}()
	return cancel
}

// Sleep waits for d or until ctx is done, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KeepInProgress tells the server, every third of ackWait, that m is still
// being worked on, until stop is called or keep (nil: always) says no more:
// a live worker's task is not handed to another worker meanwhile. A worker
// that stops (killed, paused) stops telling, and the message moves within
// the ack wait.
func KeepInProgress(m jetstream.Msg, ackWait time.Duration, keep func() bool) (stop func()) {
	every := max(ackWait/3, 10*time.Millisecond)
	var mu sync.Mutex
	stopped := false
	mu.Lock() // the first tick waits until t is set
	defer mu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped || (keep != nil && !keep()) {
			return
		}
		_ = m.InProgress()
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}
