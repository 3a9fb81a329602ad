package workflow

import (
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/wire"
)

// closeWatch tells a client's waits that their runs ended. While a client
// has waits it listens to the closing events of every run, one subscription
// per closing event, instead of subscribing to each waited run's events: a
// run publishes about 17 events of which one closes it, and a subscription
// per wait cost a SUB and an UNSUB on top. Idle for closeWatchIdle, it stops
// listening.
type closeWatch struct {
	mu      sync.Mutex
	waiting map[string]map[chan struct{}]struct{}
	subs    []*nats.Subscription
	idle    *time.Timer
}

// closeWatchIdle is how long a client with no waits keeps listening.
var closeWatchIdle = 10 * time.Second

// watchClose returns a channel that receives a value when run id publishes
// a closing event, and the function that stops the watch.
func (c *Client) watchClose(id string) (<-chan struct{}, func(), error) {
	cw := &c.closes
	ch := make(chan struct{}, 1)
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.idle != nil {
		cw.idle.Stop()
		cw.idle = nil
	}
	if cw.subs == nil {
		for _, ev := range wire.ClosingEvents {
			sub, err := c.env.NC.Subscribe(c.env.Names.StatusSubject("*", "*", ev), cw.deliver)
			if err != nil {
				cw.unsubscribe()
				return nil, nil, err
			}
			cw.subs = append(cw.subs, sub)
		}
	}
	if cw.waiting == nil {
		cw.waiting = map[string]map[chan struct{}]struct{}{}
	}
	if cw.waiting[id] == nil {
		cw.waiting[id] = map[chan struct{}]struct{}{}
	}
	cw.waiting[id][ch] = struct{}{}
	stop := func() {
		cw.mu.Lock()
		defer cw.mu.Unlock()
		delete(cw.waiting[id], ch)
		if len(cw.waiting[id]) == 0 {
			delete(cw.waiting, id)
		}
		if len(cw.waiting) == 0 && cw.subs != nil && cw.idle == nil {
			cw.idle = time.AfterFunc(closeWatchIdle, cw.stopIfIdle)
		}
	}
	return ch, stop, nil
}

// deliver wakes the waits of the run a closing event names. Any number of
// events collapse into one wake-up per wait.
func (cw *closeWatch) deliver(m *nats.Msg) {
	id := m.Subject[:strings.LastIndexByte(m.Subject, '.')]
	id = id[strings.LastIndexByte(id, '.')+1:]
	cw.mu.Lock()
	defer cw.mu.Unlock()
	for ch := range cw.waiting[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (cw *closeWatch) stopIfIdle() {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.idle = nil
	if len(cw.waiting) == 0 {
		cw.unsubscribe()
	}
}

func (cw *closeWatch) unsubscribe() {
	for _, sub := range cw.subs {
		_ = sub.Unsubscribe()
	}
	cw.subs = nil
}
