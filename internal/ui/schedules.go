package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

type scheduleRow struct {
	ID, Workflow, Cron, Zone string
	Paused                   bool
	Note, Done               string
	Next                     []string
	Recent                   []workflow.ScheduleRun
	Started, Missed, Skipped int
}

type schedulesPage struct {
	page
	Rows []scheduleRow
}

func (s *Server) schedules(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	list, err := s.cfg.Client.ListSchedules(ctx)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "reading the schedules: "+err.Error())
		return
	}
	p := schedulesPage{page: s.page("Schedules")}
	for _, d := range list {
		// The list leaves out the last runs; each schedule's own read has them.
		if full, err := s.cfg.Client.DescribeSchedule(ctx, d.ID); err == nil {
			d = full
		}
		row := scheduleRow{ID: d.ID, Workflow: d.Action.Workflow, Cron: strings.Join(d.Spec.Cron, "; "), Zone: d.Spec.TimeZone,
			Paused: d.Paused, Note: d.Note, Done: d.Done, Recent: d.Recent, Started: d.Started, Missed: d.Missed, Skipped: d.Skipped}
		if row.Zone == "" {
			row.Zone = "UTC"
		}
		// In the schedule's own zone, which its cron fields are read in.
		loc, err := time.LoadLocation(row.Zone)
		if err != nil {
			loc = time.UTC
		}
		for _, t := range d.NextFires {
			row.Next = append(row.Next, t.In(loc).Format("2006-01-02 15:04:05 MST"))
		}
		p.Rows = append(p.Rows, row)
	}
	s.render(w, "schedules", http.StatusOK, p)
}
