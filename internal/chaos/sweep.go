package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
)

// checkStuck asks the doctor (Client.Doctor, without repairing) which runs
// have not moved for grace and wait on something that will not come: runs
// stuck although the sweeper ran in every worker. It returns how many runs
// it found.
func (ch *checker) checkStuck(ctx context.Context, v *verdict, grace time.Duration, workflows map[string]string) (int, error) {
	found, err := ch.client.Doctor(ctx, grace, false)
	if err != nil {
		return 0, fmt.Errorf("chaos: doctor: %w", err)
	}
	var ids []string
	seen := map[string]string{}
	for _, f := range found {
		if _, ok := seen[f.WorkflowID]; !ok {
			ids = append(ids, f.WorkflowID)
			seen[f.WorkflowID] = f.Workflow
		}
		v.problems = append(v.problems, fmt.Sprintf("stuck: %s (%s): %s at position %d (%s): %s", f.WorkflowID, f.Workflow, f.Problem, f.Seq, f.Step, f.Detail))
	}
	for _, id := range ids {
		wf := seen[id]
		if wf == "" {
			wf = workflows[id]
		}
		v.problems = append(v.problems, fmt.Sprintf("events of %s: %s", id, ch.describeEvents(ctx, wf, id)))
	}
	v.stuck = len(ids)
	return len(ids), nil
}

// sweeps counts what the sweepers reported during the run, by problem: the
// runs they repaired and those they could only report ("repaired" and
// "stuck" events that name a problem). A worker that rebuilt a run and ran
// a step again whose result was gone publishes "repaired" too, without a
// problem: rebuilt counts those.
type sweeps struct {
	repaired, reported map[string]int
	rebuilt            int
}

func (s sweeps) total() int {
	n := 0
	for _, k := range s.repaired {
		n += k
	}
	return n
}

func (ch *checker) sweeps(ctx context.Context) (sweeps, error) {
	names := wire.NewNames("jetflow")
	s := sweeps{repaired: map[string]int{}, reported: map[string]int{}}
	evs, err := storedEvents(ctx, ch.js, names.StoredStatusFilters("*", "*"))
	if err != nil {
		return s, err
	}
	for _, ev := range evs {
		if ev.Event != wire.EventRepaired && ev.Event != wire.EventStuck {
			continue
		}
		switch {
		case ev.Event == wire.EventStuck:
			s.reported[ev.ErrorType]++
		case ev.ErrorType == "":
			s.rebuilt++
		default:
			s.repaired[ev.ErrorType]++
		}
	}
	return s, nil
}
