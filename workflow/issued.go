package workflow

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/runner"
	"github.com/jetflow-dev/jetflow/internal/twogen"
)

// issuedTasks remembers the step tasks this worker published, by result key,
// until their results reach the run: the runner of the same process checks a
// task against this copy instead of reading its decision back from the
// history. A task forgotten (its result delivered by another worker, or
// simply old) is checked against the history instead.
type issuedTasks struct {
	m *twogen.Map[string, *runner.Task]
}

func newIssuedTasks() issuedTasks { return issuedTasks{twogen.New[string, *runner.Task](50_000)} }

func (c issuedTasks) put(t *runner.Task) {
	cp := *t
	c.m.Put(cp.ResultKey(), &cp)
}

func (c issuedTasks) get(key string) *runner.Task {
	t, _ := c.m.Get(key)
	return t
}

func (c issuedTasks) drop(key string) { c.m.Delete(key) }

// earlyTimers remembers timer tasks put back for their recorded fire time,
// by run/exec/seq, so that further copies of them are acked without a
// workflow task.
func newEarlyTimers() *twogen.Map[string, time.Time] { return twogen.New[string, time.Time](10_000) }
