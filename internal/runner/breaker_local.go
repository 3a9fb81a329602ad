package runner

import (
	"context"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go/jetstream"
)

// LocalBreakers are circuit breakers kept in one process's memory, for the
// test kit's simulation (package workflowtest): the same state machine as
// the shared breakers — admission, probes, generations, the consecutive and
// rate rules, the open cache — on records in a map instead of the breakers
// bucket, with the clock the caller gives. Transitions are kept in order
// (Events) instead of being published. Safe for concurrent use, though the
// simulation calls it from one goroutine.
type LocalBreakers struct {
	b *breakers

	mu     sync.Mutex
	events []steps.BreakerEvent
}

// BreakerPermit lets one attempt admitted by LocalBreakers.Admit run; hand
// it to Report with the attempt's outcome.
type BreakerPermit struct{ p *breakerPermit }

// NewLocalBreakers returns breakers with no records, on the clock now.
func NewLocalBreakers(worker string, now func() time.Time) *LocalBreakers {
	l := &LocalBreakers{}
	l.b = newBreakers(nil, worker, nil)
	l.b.bucket = &memBucket{}
	l.b.now = now
	l.b.onEvent = func(ev steps.BreakerEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, ev)
	}
	return l
}

// Admit asks the breaker of t (t.Breaker, not nil) whether the attempt may
// run: a permit when it may, the non-retryable error to record instead of
// calling the handler when it may not.
func (l *LocalBreakers) Admit(t *Task) (*BreakerPermit, *steps.Error) {
	permit, refused, err := l.b.admit(context.Background(), *t.Breaker, t.StartToClose+probeLeaseGrace)
	if err != nil {
		// A map cannot fail; nothing else reaches here.
		return nil, steps.NonRetryable(steps.TypeInvalidBreaker, "circuit breaker %s: %v", t.Breaker.Name, err)
	}
	if refused != nil {
		return nil, refused
	}
	return &BreakerPermit{p: permit}, nil
}

// Report records the outcome (err) of the attempt of t that permit let run,
// as the runner does: halted, a probe's slot is given back.
func (l *LocalBreakers) Report(permit *BreakerPermit, t *Task, err error) {
	if permit == nil || permit.p == nil {
		return
	}
	_ = l.b.report(context.Background(), permit.p, classify(t, err))
}

// Events are the transitions so far, in order.
func (l *LocalBreakers) Events() []steps.BreakerEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]steps.BreakerEvent(nil), l.events...)
}

// memBucket is the part of a KV bucket the breakers use (Get, Create,
// Update with revisions), in memory. Other methods are not implemented:
// calling one panics on the nil interface it embeds.
type memBucket struct {
	jetstream.KeyValue

	mu   sync.Mutex
	rev  uint64
	keys map[string]*memEntry
}

type memEntry struct {
	key   string
	value []byte
	rev   uint64
	at    time.Time
}

func (e *memEntry) Bucket() string                  { return "breakers" }
func (e *memEntry) Key() string                     { return e.key }
func (e *memEntry) Value() []byte                   { return e.value }
func (e *memEntry) Revision() uint64                { return e.rev }
func (e *memEntry) Created() time.Time              { return e.at }
func (e *memEntry) Delta() uint64                   { return 0 }
func (e *memEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

func (m *memBucket) Bucket() string { return "breakers" }

func (m *memBucket) Get(_ context.Context, key string) (jetstream.KeyValueEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.keys[key]
	if !ok {
		return nil, jetstream.ErrKeyNotFound
	}
	c := *e
	return &c, nil
}

func (m *memBucket) Create(_ context.Context, key string, value []byte, _ ...jetstream.KVCreateOpt) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[key]; ok {
		return 0, jetstream.ErrKeyExists
	}
	return m.put(key, value), nil
}

func (m *memBucket) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[key]; !ok || e.rev != rev {
		return 0, jetstream.ErrKeyRevisionMismatch
	}
	return m.put(key, value), nil
}

func (m *memBucket) put(key string, value []byte) uint64 {
	if m.keys == nil {
		m.keys = map[string]*memEntry{}
	}
	m.rev++
	m.keys[key] = &memEntry{key: key, value: append([]byte(nil), value...), rev: m.rev}
	return m.rev
}
