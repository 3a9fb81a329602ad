// Package twogen is a map bounded by two generations: when the current one
// is full it becomes the old one and the one before is dropped. Lookups see
// both. It suits caches whose entries lose their value with age and are
// cheap to do without (a miss is answered the slow way).
package twogen

import "sync"

// Map is safe for concurrent use. The zero value holds nothing and needs a
// limit set before use (New).
type Map[K comparable, V any] struct {
	mu       sync.Mutex
	limit    int
	cur, old map[K]V
}

// New returns a Map whose generations hold at most limit entries each.
func New[K comparable, V any](limit int) *Map[K, V] {
	return &Map[K, V]{limit: max(limit, 1)}
}

// Put stores v under k in the current generation.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= m.limit {
		m.old, m.cur = m.cur, nil
	}
	if m.cur == nil {
		m.cur = make(map[K]V)
	}
	m.cur[k] = v
}

// Get returns the value under k from either generation.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.old[k]
	return v, ok
}

// Delete removes k from both generations.
func (m *Map[K, V]) Delete(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cur, k)
	delete(m.old, k)
}
