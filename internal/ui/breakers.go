package ui

import (
	"fmt"
	"net/http"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// feedLength is how many stored transitions the breakers page lists.
const feedLength = 50

type breakerRow struct {
	Name, State string
	Failures    string
	Opens       int
	Probes      int
	OpenUntil   string
	Updated     string
	By          string
	Corrupt     bool
}

type breakersPage struct {
	page
	Rows     []breakerRow
	Feed     []steps.BreakerEvent
	Problems []string
}

func breakerRowOf(b workflow.BreakerState) breakerRow {
	r := breakerRow{Name: b.Name, State: b.State, Failures: fmt.Sprint(b.Failures), Opens: b.Opens, Probes: b.Probes,
		OpenUntil: "-", Updated: stamp(b.UpdatedAt), By: b.UpdatedBy, Corrupt: b.Corrupt}
	if b.Policy.FailureThreshold > 0 {
		r.Failures += fmt.Sprintf(" of %d", b.Policy.FailureThreshold)
	}
	if b.Policy.FailureRateThreshold > 0 {
		r.Failures = fmt.Sprintf("%d of %d calls in %s (opens at %g%%)", b.WindowFailures, b.WindowCalls, b.Policy.Window, 100*b.Policy.FailureRateThreshold)
	}
	if b.State != "closed" && !b.OpenUntil.IsZero() {
		r.OpenUntil = stamp(b.OpenUntil)
	}
	return r
}

func (s *Server) loadBreakers(r *http.Request) (breakersPage, error) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	p := breakersPage{page: s.page("Breakers")}
	bs, err := s.cfg.Client.Breakers(ctx)
	if err != nil {
		return p, err
	}
	for _, b := range bs {
		p.Rows = append(p.Rows, breakerRowOf(b))
	}
	return p, nil
}

func (s *Server) breakers(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadBreakers(r)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "reading the breakers: "+err.Error())
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if p.Feed, err = breakerFeed(ctx, s.cfg.Env, feedLength); err != nil {
		p.Problems = append(p.Problems, "transitions from the event stream: "+err.Error())
	}
	s.render(w, "breakers", http.StatusOK, p)
}

// breakersTable is the table alone, which the page fetches again after a
// transition.
func (s *Server) breakersTable(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadBreakers(r)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "reading the breakers: "+err.Error())
		return
	}
	s.fragment(w, "breakertable", p)
}
