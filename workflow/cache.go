package workflow

import (
	"container/list"
	"sync"
)

// runCache holds the runs this worker keeps alive between workflow tasks,
// least recently used first out. A run in use (a task running or queued)
// is never evicted; an evicted run is rebuilt from its history when its
// next task comes.
type runCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*runEntry
	lru *list.List
	// epoch counts the times every run held was declared stale (the worker
	// was frozen); an entry whose run was set in an older epoch is dropped
	// by the next task instead of used.
	epoch int
}

// runEntry is one run in the cache. mu is held by the task moving the run;
// wake-ups that arrive meanwhile wait in inbox and are handled together by
// the next task (group commit).
type runEntry struct {
	id   string
	mu   sync.Mutex
	qmu  sync.Mutex
	box  []*wakeup
	x    *execution
	refs int
	el   *list.Element
	// reread makes the next load read the history even of a run whose
	// record says pending (another worker wrote to it).
	reread bool
	// repair: the sweeper found the run stuck; the next load publishes
	// what the run waits on with new deduplication IDs.
	repair bool
	// epoch is the cache's epoch when x was set.
	epoch int
	// trace is the run's trace context, for the span of each task.
	trace taskTrace
	// cached: the last move found the run in memory (for the conflict log).
	cached bool
}

func newRunCache(max int) *runCache {
	return &runCache{max: max, m: map[string]*runEntry{}, lru: list.New()}
}

// acquire returns the entry of id, creating it, and pins it until release.
func (c *runCache) acquire(id string) *runEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent := c.m[id]
	if ent == nil {
		ent = &runEntry{id: id}
		c.m[id] = ent
		ent.el = c.lru.PushFront(ent)
	} else {
		c.lru.MoveToFront(ent.el)
	}
	ent.refs++
	return ent
}

// release unpins an entry; one that holds no live run is dropped, and the
// cache is trimmed to its size.
func (c *runCache) release(ent *runEntry) {
	c.mu.Lock()
	ent.refs--
	var evicted []*execution
	if ent.refs == 0 && ent.x == nil {
		c.remove(ent)
	}
	for e := c.lru.Back(); e != nil && len(c.m) > c.max; {
		prev := e.Prev()
		old := e.Value.(*runEntry)
		if old.refs == 0 {
			c.remove(old)
			if old.x != nil {
				evicted = append(evicted, old.x)
				old.x = nil
			}
		}
		e = prev
	}
	c.mu.Unlock()
	for _, x := range evicted {
		x.kill()
	}
}

func (c *runCache) remove(ent *runEntry) {
	if c.m[ent.id] == ent {
		delete(c.m, ent.id)
		c.lru.Remove(ent.el)
	}
}

// current returns the entry's run, or nil when there is none or it was
// declared stale since it was set (the caller holds ent.mu and a ref).
func (c *runCache) current(ent *runEntry) *execution {
	c.mu.Lock()
	x, stale := ent.x, ent.epoch != c.epoch
	if stale {
		ent.x = nil
		ent.reread = true
	}
	c.mu.Unlock()
	if stale && x != nil {
		x.kill()
		return nil
	}
	return x
}

// forgetAll declares every run held stale: idle ones are dropped now, those
// in a task when that task is over.
func (c *runCache) forgetAll() {
	c.mu.Lock()
	c.epoch++
	c.mu.Unlock()
	c.clear()
}

// holds reports whether the run id is alive in the cache.
func (c *runCache) holds(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent := c.m[id]
	return ent != nil && ent.x != nil && ent.epoch == c.epoch
}

// clear kills every cached run (worker shutdown).
func (c *runCache) clear() {
	c.mu.Lock()
	var xs []*execution
	for _, ent := range c.m {
		if ent.refs == 0 && ent.x != nil {
			xs = append(xs, ent.x)
			ent.x = nil
		}
	}
	c.mu.Unlock()
	for _, x := range xs {
		x.kill()
	}
}

// set replaces the entry's run; the caller holds ent.mu and a ref.
func (c *runCache) set(ent *runEntry, x *execution) {
	c.mu.Lock()
	old := ent.x
	ent.x, ent.epoch = x, c.epoch
	c.mu.Unlock()
	if old != nil && old != x {
		old.kill()
	}
}
