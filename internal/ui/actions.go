package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Actions change state, so they are POST forms (a link or a prefetch
// cannot fire them; Handler refuses cross-origin posts), each asks for
// confirmation in the page, and each is also a CLI command:
//
//	POST /runs/ID/cancel       jetflow cancel ID --reason R
//	POST /runs/ID/terminate    jetflow terminate ID --reason R
//	POST /runs/ID/signal       jetflow signal ID NAME --input JSON
//	POST /breakers/NAME/reset  jetflow breakers reset NAME
//	POST /schedules/ID/pause   jetflow schedule pause ID (unpause, trigger alike)

// maxForm bounds an action's form (a signal's payload).
const maxForm = 1 << 20

// allowed answers 403 unless actions are on.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request) bool {
	if !s.cfg.AllowActions {
		s.fail(w, r, http.StatusForbidden, ErrActionsOff.Error())
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "reading the form: "+err.Error())
		return false
	}
	return true
}

// done answers an action: back to the page it came from.
func (s *Server) done(w http.ResponseWriter, r *http.Request, back string, err error) {
	var ie *workflow.InvalidIDError
	switch {
	case err == nil:
		http.Redirect(w, r, back, http.StatusSeeOther)
	case errors.Is(err, workflow.ErrNotFound), errors.Is(err, workflow.ErrBreakerNotFound):
		s.fail(w, r, http.StatusNotFound, err.Error())
	case errors.As(err, &ie):
		s.fail(w, r, http.StatusBadRequest, err.Error())
	default:
		s.fail(w, r, http.StatusConflict, err.Error())
	}
}

func (s *Server) runAction(w http.ResponseWriter, r *http.Request) {
	id, ok := s.runID(w, r)
	if !ok || !s.allowed(w, r) {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		reason = "from jetflow ui"
	}
	var err error
	switch r.PathValue("action") {
	case "cancel":
		err = s.cfg.Client.Cancel(ctx, id, reason)
	case "terminate":
		err = s.cfg.Client.Terminate(ctx, id, reason)
	case "signal":
		name := strings.TrimSpace(r.PostForm.Get("name"))
		if !steps.ValidName(name) {
			s.fail(w, r, http.StatusBadRequest, "signal name "+name+": letters, digits, '-' and '_' only")
			return
		}
		input := strings.TrimSpace(r.PostForm.Get("input"))
		if input == "" {
			input = "null"
		}
		payload, perr := jsonpayload.FromJSON([]byte(input))
		if perr != nil {
			s.fail(w, r, http.StatusBadRequest, "signal payload: "+perr.Error())
			return
		}
		err = s.cfg.Client.SignalRaw(ctx, id, name, payload)
	default:
		s.fail(w, r, http.StatusNotFound, "no action "+r.PathValue("action")+" on runs (cancel, terminate, signal)")
		return
	}
	s.done(w, r, "/runs/"+id, err)
}

func (s *Server) resetBreaker(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !steps.ValidName(name) {
		s.fail(w, r, http.StatusBadRequest, "breaker name "+name+": letters, digits, '-' and '_' only")
		return
	}
	if !s.allowed(w, r) {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	s.done(w, r, "/breakers", s.cfg.Client.ResetBreaker(ctx, name))
}

func (s *Server) scheduleAction(w http.ResponseWriter, r *http.Request) {
	id, ok := s.runID(w, r)
	if !ok || !s.allowed(w, r) {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	note := strings.TrimSpace(r.PostForm.Get("note"))
	var err error
	switch r.PathValue("action") {
	case "pause":
		err = s.cfg.Client.PauseSchedule(ctx, id, note)
	case "unpause":
		err = s.cfg.Client.UnpauseSchedule(ctx, id, note)
	case "trigger":
		_, err = s.cfg.Client.TriggerSchedule(ctx, id)
	default:
		s.fail(w, r, http.StatusNotFound, "no action "+r.PathValue("action")+" on schedules (pause, unpause, trigger)")
		return
	}
	s.done(w, r, "/schedules", err)
}
