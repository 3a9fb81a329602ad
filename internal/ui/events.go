package ui

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go/jetstream"
)

// maxEvents bounds what one page reads from the event stream: a run's
// events (a long run's first ones are enough to draw its start) or the
// breaker transitions kept for the feed.
const maxEvents = 20000

// readStored reads the messages on filters that the event stream holds now,
// oldest first, at most maxEvents, and calls each for every one. The read
// ends at the last message stored when it began, so a busy subject cannot
// keep it going.
func readStored(ctx context.Context, env *wire.Env, filters []string, each func(data []byte)) error {
	stream, err := env.JS.Stream(ctx, env.Names.EventStream())
	if err != nil {
		return err
	}
	last, err := wire.LastStored(ctx, stream, filters)
	if err != nil || last == 0 {
		return err
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	for n := 0; n < maxEvents; {
		// What is stored comes at once; a Fetch that waits for a full
		// batch would wait out its MaxWait on every page.
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return err
		}
		got := 0
		msgs := batch.Messages()
		if first, ok := <-msgs; ok {
			got++
			n++
			each(first.Data())
			if md, err := first.Metadata(); err == nil && md.Sequence.Stream >= last {
				return nil
			}
		} else if batch.Error() == nil || errors.Is(batch.Error(), jetstream.ErrNoMessages) {
			// Nothing yet (a consumer just made may not have it at hand):
			// wait for it once, briefly.
			if batch, err = cons.Fetch(500, jetstream.FetchMaxWait(time.Second)); err != nil {
				return err
			}
			msgs = batch.Messages()
		}
		for m := range msgs {
			got++
			n++
			each(m.Data())
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if got == 0 {
			return ctx.Err() // purged meanwhile, or slow: what was read is enough
		}
	}
	return nil
}

// runEvents is a run's stored status events, oldest first.
func runEvents(ctx context.Context, env *wire.Env, wf, id string) ([]wire.Event, error) {
	var out []wire.Event
	err := readStored(ctx, env, env.Names.StoredStatusFilters(wf, id), func(data []byte) {
		var ev wire.Event
		if json.Unmarshal(data, &ev) == nil {
			out = append(out, ev)
		}
	})
	return out, err
}

// breakerFeed is the newest n stored breaker transitions, newest first.
func breakerFeed(ctx context.Context, env *wire.Env, n int) ([]steps.BreakerEvent, error) {
	var all []steps.BreakerEvent
	err := readStored(ctx, env, []string{env.Names.Prefix + ".breaker.>"}, func(data []byte) {
		var ev steps.BreakerEvent
		if json.Unmarshal(data, &ev) == nil {
			all = append(all, ev)
		}
	})
	if len(all) > n {
		all = all[len(all)-n:]
	}
	out := make([]steps.BreakerEvent, len(all))
	for i, ev := range all {
		out[len(all)-1-i] = ev
	}
	return out, err
}
