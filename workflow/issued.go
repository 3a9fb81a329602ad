package workflow

import (
	"github.com/jetflow-dev/jetflow/internal/runner"
	"sync"
	"time"
)

// issuedTasks remembers the step tasks this worker published, by result key,
// until their results reach the run: the runner of the same process checks a
// task against this copy instead of reading its decision back from the
// history. Its size is bounded by two generations; a task forgotten (its
// result delivered by another worker, or simply old) is checked against the
// history instead.
type issuedTasks struct {
	mu       sync.Mutex
	cur, old map[string]*runner.Task
	limit    int
}

func (c *issuedTasks) put(t *runner.Task) {
	cp := *t
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit <= 0 {
		c.limit = 50_000
	}
	if len(c.cur) >= c.limit {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[string]*runner.Task)
	}
	c.cur[cp.ResultKey()] = &cp
}

func (c *issuedTasks) get(key string) *runner.Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cur[key]; ok {
		return t
	}
	return c.old[key]
}

func (c *issuedTasks) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cur, key)
	delete(c.old, key)
}

// earlyTimers remembers timer tasks put back for their recorded fire time,
// so that further copies of them are acked without a workflow task. Two
// generations bound it.
type earlyTimers struct {
	mu       sync.Mutex
	cur, old map[string]time.Time
}

const earlyTimersLimit = 10_000

func (c *earlyTimers) put(key string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= earlyTimersLimit {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[string]time.Time)
	}
	c.cur[key] = at
}

func (c *earlyTimers) get(key string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.cur[key]; ok {
		return at, true
	}
	at, ok := c.old[key]
	return at, ok
}
