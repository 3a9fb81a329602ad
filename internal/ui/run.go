package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

type runPage struct {
	page
	ID       string
	Workflow string
	Status   string
	Closed   bool
	Parent   string
	// TraceID is the run's OpenTelemetry trace, when it has one.
	TraceID  string
	Created  string
	Started  string
	Ended    string
	Took     string
	Exec     int
	Waiting  string
	Failure  *workflow.Failure
	Input    string
	Output   string
	Current  string
	Timeline timeline
	Pending  *workflow.Backoff
	// Children are the child runs this run started, in order.
	Children []string
	// Problems are what could not be read (the events, a payload).
	Problems []string
}

// runID reads and checks the {id} of the path; a bad one is answered 400.
func (s *Server) runID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if err := workflow.ValidateID(id); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return "", false
	}
	return id, true
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.loadRun(w, r); ok {
		s.render(w, "run", http.StatusOK, p)
	}
}

// runLive is the part of a run's page that its event stream refreshes.
func (s *Server) runLive(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.loadRun(w, r); ok {
		s.fragment(w, "runlive", p)
	}
}

func (s *Server) loadRun(w http.ResponseWriter, r *http.Request) (runPage, bool) {
	id, ok := s.runID(w, r)
	if !ok {
		return runPage{}, false
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	c := s.cfg.Client
	rec, err := c.Record(ctx, id)
	if errors.Is(err, workflow.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "no run with ID "+id)
		return runPage{}, false
	}
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "reading run "+id+": "+err.Error())
		return runPage{}, false
	}
	p := runPage{page: s.page("Run " + id), ID: rec.ID, Workflow: rec.Workflow, Status: string(rec.Status), Closed: rec.Status.Closed(),
		Parent: rec.Parent, TraceID: rec.TraceID, Created: stamp(rec.CreatedAt), Started: stamp(rec.StartedAt), Ended: stamp(rec.ClosedAt), Exec: rec.Exec,
		Waiting: rec.Waiting, Failure: rec.Error}
	if !rec.ClosedAt.IsZero() {
		p.Took = human(rec.ClosedAt.Sub(rec.CreatedAt))
	}
	if in, err := s.cfg.InputJSON(rec.Workflow, rec.Input); err == nil {
		p.Input = pretty(in)
	} else {
		p.Problems = append(p.Problems, "input: "+err.Error())
	}
	if len(rec.Output) > 0 {
		if out, err := s.cfg.OutputJSON(rec.Workflow, rec.Output); err == nil {
			p.Output = pretty(out)
		} else {
			p.Problems = append(p.Problems, "output: "+err.Error())
		}
	}
	hist, err := c.History(ctx, id)
	if err != nil {
		p.Problems = append(p.Problems, "history: "+err.Error())
	}
	if !p.Closed {
		if d, err := c.Describe(ctx, id); err == nil {
			p.Pending, p.Current = d.Backoff, d.CurrentStep
		}
	}
	events, err := runEvents(ctx, s.cfg.Env, rec.Workflow, id)
	if err != nil {
		p.Problems = append(p.Problems, "attempt times from the event stream: "+err.Error())
	}
	p.Timeline = buildTimeline(rec, hist, events, p.Pending, time.Now())
	for _, h := range hist {
		if h.ChildID != "" {
			p.Children = append(p.Children, h.ChildID)
		}
	}
	return p, true
}
