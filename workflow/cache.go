package workflow

import (
	"sync"

	"github.com/jetflow-dev/jetflow/kv"
)

// resultCache keeps recorded results, which never change once written, so a
// replay reads from the bucket only what it has not seen. When full it is
// cleared in one go: cheap, and a miss only costs a read.
type resultCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*kv.Result
}

func newResultCache(max int) *resultCache {
	return &resultCache{max: max, m: make(map[string]*kv.Result)}
}

func (c *resultCache) get(key string) *kv.Result {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *resultCache) put(key string, r *kv.Result) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = r
}

func (c *resultCache) forget(prefix string, n int) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq := 1; seq <= n; seq++ {
		delete(c.m, kv.StepKey(prefix, seq))
	}
}
