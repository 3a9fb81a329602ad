package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{name: "watch", summary: "print status events live: watch [ID] [--workflow W] (a run's past events first)", run: runWatch})
}

func runWatch(ctx context.Context, args []string) error {
	var f clientFlags
	var wf string
	var since time.Duration
	var follow bool
	fs := newFlagSet("watch", os.Stderr)
	f.register(fs)
	fs.StringVar(&wf, "workflow", "", "only runs of this workflow")
	fs.DurationVar(&since, "since", 0, "without an ID, also print the events of this long ago (default: live only)")
	fs.BoolVar(&follow, "follow", false, "with an ID, keep watching after the run ended")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 1, ""); err != nil {
		return err
	}
	if wf != "" && !steps.ValidName(wf) {
		return usagef("--workflow %q: not a workflow name (letters, digits, '-' and '_')", wf)
	}
	if since < 0 {
		return usagef("--since %s: want a positive duration", since)
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
		if err := workflow.ValidateID(id); err != nil {
			return usagef("%v", err)
		}
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()

	w := &watcher{s: s, json: f.json, id: id, follow: follow}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	filterWF := "*"
	if wf != "" {
		filterWF = wf
	}
	if id != "" {
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		run, err := s.client.Record(cctx, id)
		cancel()
		if err != nil {
			return notFound(err, id)
		}
		if wf != "" && run.Workflow != wf {
			return usagef("run %s is a run of %s, not %s", id, run.Workflow, wf)
		}
		filterWF = run.Workflow
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	} else if since > 0 {
		t := time.Now().Add(-since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	filterID := "*"
	if id != "" {
		filterID = id
	}
	cfg.FilterSubjects = s.env.Names.StoredStatusFilters(filterWF, filterID)
	return w.run(ctx, cfg, f.timeout)
}

type watcher struct {
	s      *session
	json   bool
	id     string
	follow bool
}

func (w *watcher) run(ctx context.Context, cfg jetstream.OrderedConsumerConfig, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream := w.s.env.Names.EventStream()
	// Named by the subjects the events are published on (the last filter;
	// the first is where the stream keeps them).
	subject := cfg.FilterSubjects[len(cfg.FilterSubjects)-1]
	// The replay ends at the last event stored now; after it the run's record
	// says whether more can come.
	var replayEnd uint64
	if w.id != "" {
		st, err := w.s.env.JS.Stream(cctx, stream)
		if err != nil {
			return fmt.Errorf("opening %s: %w", stream, err)
		}
		if replayEnd, err = wire.LastStored(cctx, st, cfg.FilterSubjects); err != nil {
			return fmt.Errorf("reading %s: %w", stream, err)
		}
	}
	cons, err := w.s.env.JS.OrderedConsumer(cctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("watching %s: %w", subject, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("watching %s: %w", subject, err)
	}
	defer it.Stop()
	fmt.Fprintf(os.Stderr, "watching %s (Ctrl-C to stop)\n", subject)

	msgs := make(chan jetstream.Msg, 256)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			msgs <- m
		}
	}()
	caughtUp := replayEnd == 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	if w.id != "" && caughtUp && w.ended(ctx) {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("watching: %w", err)
		case m := <-msgs:
			ev, err := w.print(m)
			if err != nil {
				fmt.Fprintf(os.Stderr, "skipping an event on %s: %v\n", m.Subject(), err)
			}
			if w.id == "" || w.follow {
				continue
			}
			if kv.Terminal(ev.Event) {
				return nil
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= replayEnd && !caughtUp {
				caughtUp = true
				if w.ended(ctx) {
					return nil
				}
			}
		case <-tick.C:
			// A run whose final event was lost (events are best effort)
			// still ends the watch, from its record.
			if w.id != "" && !w.follow && caughtUp && w.ended(ctx) {
				return nil
			}
		}
	}
}

// ended reports whether the watched run is over, printing its final status
// from the record when it is.
func (w *watcher) ended(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	run, err := w.s.client.Record(cctx, w.id)
	if err != nil || !run.Status.Closed() || w.follow {
		return false
	}
	ev := wire.Event{Event: string(run.Status), Workflow: run.Workflow, WorkflowID: run.ID, Time: run.ClosedAt, Status: string(run.Status),
		DurationMS: ms(run.ClosedAt.Sub(run.CreatedAt))}
	if run.Error != nil {
		ev.Error, ev.ErrorType = run.Error.Message, run.Error.Type
	}
	if w.json {
		data, _ := json.Marshal(ev)
		fmt.Println(string(data))
	} else {
		fmt.Println(formatEvent(ev) + "  (from the run's record)")
	}
	return true
}

func (w *watcher) print(m jetstream.Msg) (wire.Event, error) {
	var ev wire.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil {
		return ev, err
	}
	if w.json {
		fmt.Println(strings.TrimSpace(string(m.Data())))
	} else {
		fmt.Println(formatEvent(ev))
	}
	return ev, nil
}

// formatEvent renders one event on one line for people.
func formatEvent(ev wire.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s %s  %-19s", ev.Time.Local().Format("15:04:05.000"), ev.Workflow, ev.WorkflowID, ev.Event)
	if ev.Step != "" {
		fmt.Fprintf(&b, " %s", ev.Step)
		if ev.Seq > 0 {
			fmt.Fprintf(&b, " #%d", ev.Seq)
		}
	}
	if ev.Attempt > 0 {
		fmt.Fprintf(&b, " attempt %d", ev.Attempt)
	}
	if ev.Compensation {
		b.WriteString(" (compensation)")
	}
	if ev.DurationMS > 0 {
		fmt.Fprintf(&b, " took %s", human(time.Duration(ev.DurationMS*float64(time.Millisecond))))
	}
	if ev.RetryInMS > 0 {
		fmt.Fprintf(&b, " retry in %s", human(time.Duration(ev.RetryInMS*float64(time.Millisecond))))
	}
	if ev.Error != "" {
		typ := ev.ErrorType
		if typ != "" {
			typ += ": "
		}
		fmt.Fprintf(&b, "  error %s%s", typ, ev.Error)
	}
	if ev.Worker != "" {
		fmt.Fprintf(&b, "  [%s]", ev.Worker)
	}
	return b.String()
}
