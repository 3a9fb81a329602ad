package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
)

// Live updates: each open page holds one Server-Sent Events stream, fed by
// a core subscription of its own to the status or breaker subjects. A
// message there is a hint, never the state: the stream reads the run's
// record (or re-renders the fragment) before it tells the page anything,
// and a hint dropped because the page is slow loses nothing that a reload
// would not show.

// flushEvery coalesces bursts: a thousand runs starting at once are a few
// updates, not a thousand.
const flushEvery = 250 * time.Millisecond

// maxRowsPerFlush bounds the records one update reads; beyond it the page
// is told how many runs changed and offers a reload.
const maxRowsPerFlush = 100

// sse is one open event stream.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	_ = s.send("hello", "")
	return s
}

// send writes one event; data may span lines.
func (s *sse) send(event, data string) error {
	var b bytes.Buffer
	b.WriteString("event: " + event + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// subscribe relays the subjects' messages to a channel that drops what a
// slow page cannot take.
func subscribe(nc *nats.Conn, subject string) (*nats.Subscription, <-chan *nats.Msg, error) {
	ch := make(chan *nats.Msg, 1024)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		select {
		case ch <- m:
		default:
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return sub, ch, nc.Flush()
}

// isLifecycle says whether a status event changes a run's row in the list.
func isLifecycle(event string) bool {
	switch event {
	case wire.EventStarted, wire.EventCompleted, wire.EventFailed, wire.EventCompensationFailed, wire.EventCanceled,
		wire.EventTerminated, wire.EventContinuedAsNew, wire.EventNoWorker, wire.EventCompensating, wire.EventCancelRequested:
		return true
	}
	return false
}

// runsEvents streams the rows of the runs list that change: a run that
// starts or ends and matches the list's filter comes as its rendered row
// ("run"); one that no longer matches comes as its ID ("gone").
func (s *Server) runsEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query(), s.cfg.PageSize)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	prefix := s.cfg.Env.Names.Prefix + ".status."
	wf := "*"
	if f.Workflow != "" {
		wf = f.Workflow
	}
	sub, ch, err := subscribe(s.cfg.Env.NC, prefix+wf+".*.*")
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "subscribing to status events: "+err.Error())
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	out := startSSE(w)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	changed := map[string]bool{}
	var order []string
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			// <prefix>.status.<workflow>.<id>.<event>
			tok := strings.Split(strings.TrimPrefix(m.Subject, prefix), ".")
			if len(tok) != 3 || !isLifecycle(tok[2]) || !strings.HasPrefix(tok[1], f.IDPrefix) {
				continue
			}
			if !changed[tok[1]] {
				changed[tok[1]] = true
				order = append(order, tok[1])
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || out.rc.Flush() != nil {
				return
			}
		case <-tick.C:
			if len(order) == 0 {
				continue
			}
			if err := s.flushRows(r.Context(), out, f, order); err != nil {
				return
			}
			clear(changed)
			order = order[:0]
		}
	}
}

func (s *Server) flushRows(ctx context.Context, out *sse, f filter, ids []string) error {
	if len(ids) > maxRowsPerFlush {
		return out.send("many", fmt.Sprint(len(ids)))
	}
	for _, id := range ids {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		rec, err := s.cfg.Client.Record(rctx, id)
		cancel()
		if err != nil {
			continue // deleted, or unreadable now: a reload says which
		}
		if !f.matches(rec) {
			if err := out.send("gone", rec.ID); err != nil {
				return err
			}
			continue
		}
		var b strings.Builder
		if err := s.frags.ExecuteTemplate(&b, "row", rowOf(rec)); err != nil {
			return err
		}
		if err := out.send("run", b.String()); err != nil {
			return err
		}
	}
	return nil
}

// runEvents streams a run's status events, as "change" with the event's
// name: the page then fetches its live part again.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := s.runID(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(r)
	rec, err := s.cfg.Client.Record(ctx, id)
	cancel()
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "no run with ID "+id)
		return
	}
	s.relay(w, r, s.cfg.Env.Names.StatusFilter(rec.Workflow, id), func(m *nats.Msg) (string, string) {
		var ev wire.Event
		_ = json.Unmarshal(m.Data, &ev)
		return "change", ev.Event
	})
}

// breakerEvents streams breaker transitions, each as its feed line.
func (s *Server) breakerEvents(w http.ResponseWriter, r *http.Request) {
	s.relay(w, r, s.cfg.Env.Names.Prefix+".breaker.>", func(m *nats.Msg) (string, string) {
		var ev steps.BreakerEvent
		if json.Unmarshal(m.Data, &ev) != nil {
			return "", ""
		}
		var b strings.Builder
		if err := s.frags.ExecuteTemplate(&b, "transition", ev); err != nil {
			return "", ""
		}
		return "transition", b.String()
	})
}

// relay streams what conv makes of each message on subject ("" skips it).
func (s *Server) relay(w http.ResponseWriter, r *http.Request, subject string, conv func(*nats.Msg) (event, data string)) {
	sub, ch, err := subscribe(s.cfg.Env.NC, subject)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "subscribing to "+subject+": "+err.Error())
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	out := startSSE(w)
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			if ev, data := conv(m); ev != "" {
				if out.send(ev, data) != nil {
					return
				}
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || out.rc.Flush() != nil {
				return
			}
		}
	}
}
