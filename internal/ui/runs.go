package ui

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// maxPageSize bounds ?n=: a page is rendered in one piece.
const maxPageSize = 1000

// filter is the runs list's query, checked: every field is a valid
// workflow name, status, time or ID prefix, or empty.
type filter struct {
	Workflow string
	Status   string
	IDPrefix string
	// Since and Until are as typed (shown back in the form); their times
	// are in list.
	Since, Until string
	Page, Size   int
	list         workflow.ListFilter
}

// timeLayouts are what the time filters accept: what a browser's
// datetime-local input sends (read in the server's time zone), and RFC 3339.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02"}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 (2006-01-02T15:04:05Z) or local 2006-01-02T15:04")
}

// parseFilter reads and checks the list's query; its error says which
// field is wrong and why.
func parseFilter(q url.Values, defSize int) (filter, error) {
	f := filter{Workflow: strings.TrimSpace(q.Get("workflow")), Status: strings.TrimSpace(q.Get("status")),
		IDPrefix: strings.TrimSpace(q.Get("prefix")), Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")),
		Page: 1, Size: defSize}
	if f.Workflow != "" && !steps.ValidName(f.Workflow) {
		return f, fmt.Errorf("workflow %q: not a workflow name (letters, digits, '-' and '_')", f.Workflow)
	}
	if f.Status != "" && !slices.Contains(workflow.Statuses, workflow.Status(f.Status)) {
		return f, fmt.Errorf("status %q: want one of %s", f.Status, statusList())
	}
	if f.IDPrefix != "" {
		if err := workflow.ValidateID(f.IDPrefix); err != nil {
			return f, fmt.Errorf("ID prefix: %w", err)
		}
	}
	var err error
	if f.Since != "" {
		if f.list.Since, err = parseTime(f.Since); err != nil {
			return f, fmt.Errorf("since %q: %w", f.Since, err)
		}
	}
	if f.Until != "" {
		if f.list.Until, err = parseTime(f.Until); err != nil {
			return f, fmt.Errorf("until %q: %w", f.Until, err)
		}
	}
	if v := q.Get("page"); v != "" {
		if f.Page, err = strconv.Atoi(v); err != nil || f.Page < 1 {
			return f, fmt.Errorf("page %q: want a number from 1", v)
		}
	}
	if v := q.Get("n"); v != "" {
		if f.Size, err = strconv.Atoi(v); err != nil || f.Size < 1 || f.Size > maxPageSize {
			return f, fmt.Errorf("n %q: want a page size from 1 to %d", v, maxPageSize)
		}
	}
	f.list.Workflow, f.list.Status, f.list.IDPrefix = f.Workflow, workflow.Status(f.Status), f.IDPrefix
	return f, nil
}

func statusList() string {
	s := make([]string, len(workflow.Statuses))
	for i, st := range workflow.Statuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// Query is the filter as a URL query, with page p when p > 1. It is
// url.Values' encoding of checked fields, safe to place after "?" as is.
func (f filter) Query(p int) template.URL {
	q := url.Values{}
	for k, v := range map[string]string{"workflow": f.Workflow, "status": f.Status, "prefix": f.IDPrefix, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if p > 1 {
		q.Set("page", strconv.Itoa(p))
	}
	return template.URL(q.Encode())
}

// matches says whether a run belongs in the list the filter selects.
func (f filter) matches(r workflow.Record) bool {
	l := f.list
	return (l.Workflow == "" || r.Workflow == l.Workflow) && (l.Status == "" || r.Status == l.Status) &&
		strings.HasPrefix(r.ID, l.IDPrefix) && (l.Since.IsZero() || !r.CreatedAt.Before(l.Since)) &&
		(l.Until.IsZero() || r.CreatedAt.Before(l.Until))
}

// row is one run in the list.
type row struct {
	ID, Workflow, Status, Parent string
	Created, Closed, Took        string
	Error                        string
}

func rowOf(r workflow.Record) row {
	w := row{ID: r.ID, Workflow: r.Workflow, Status: string(r.Status), Parent: r.Parent, Created: stamp(r.CreatedAt), Closed: stamp(r.ClosedAt)}
	if !r.ClosedAt.IsZero() {
		w.Took = human(r.ClosedAt.Sub(r.CreatedAt))
	}
	if r.Error != nil {
		w.Error = r.Error.Type + ": " + r.Error.Message
	} else if r.Waiting != "" {
		w.Error = r.Waiting
	}
	return w
}

type runsPage struct {
	page
	Filter     filter
	Statuses   []workflow.Status
	Workflows  []string
	Rows       []row
	Total      int
	First      int
	Last       int
	Prev, Next template.URL
	HasPrev    bool
	HasNext    bool
	Live       bool
	Corrupt    []string
	LoadMS     string
}

// runs is the runs list, newest first, a page at a time.
func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	f, err := parseFilter(r.URL.Query(), s.cfg.PageSize)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	res, err := s.cfg.Client.List(ctx, f.list)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "listing runs: "+err.Error())
		return
	}
	p := runsPage{page: s.page("Runs"), Filter: f, Statuses: workflow.Statuses, Total: len(res.Runs), Corrupt: res.Corrupt}
	seen := map[string]bool{}
	for _, run := range res.Runs {
		if !seen[run.Workflow] {
			seen[run.Workflow] = true
			p.Workflows = append(p.Workflows, run.Workflow)
		}
	}
	slices.Sort(p.Workflows)
	// Newest first: List gives the oldest first.
	end := len(res.Runs) - (f.Page-1)*f.Size
	start := max(end-f.Size, 0)
	for i := end - 1; i >= start; i-- {
		p.Rows = append(p.Rows, rowOf(res.Runs[i]))
	}
	if len(p.Rows) > 0 {
		p.First, p.Last = (f.Page-1)*f.Size+1, (f.Page-1)*f.Size+len(p.Rows)
	}
	p.HasPrev, p.HasNext = f.Page > 1, start > 0
	p.Prev, p.Next = f.Query(f.Page-1), f.Query(f.Page+1)
	// Only the first page takes new runs in: later pages would shift.
	p.Live = f.Page == 1
	p.LoadMS = fmt.Sprintf("%.0f", float64(time.Since(t0).Microseconds())/1000)
	s.render(w, "runs", http.StatusOK, p)
}
