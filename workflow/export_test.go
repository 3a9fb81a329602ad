package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
)

// SetHistoryLimit lowers the history limit of w, so a test can reach it.
func SetHistoryLimit(w *Worker, n int) { w.maxHistory = n }

// SetNotYetLimit lowers how often a workflow task may name a result that is
// not there before it is parked.
func SetNotYetLimit(w *Worker, n int) { w.maxNotYet = n }

// AckWaitOf is the ack wait a worker runs with.
func AckWaitOf(w *Worker) time.Duration { return w.cfg.ackWait }

// SetCloseWatchIdle sets how long a client with no waits keeps listening
// for closing events, and returns a function that restores it.
func SetCloseWatchIdle(d time.Duration) func() {
	old := closeWatchIdle
	closeWatchIdle = d
	return func() { closeWatchIdle = old }
}

// DeclineWakeups makes w answer wake-up requests for the runs it holds
// with "miss" (on), as a worker that dropped them would, or serve them
// again (off).
func DeclineWakeups(w *Worker, on bool) { w.declineWakeups.Store(on) }

// InstanceOf is the name w takes wake-ups under (a history batch's Owner).
func InstanceOf(w *Worker) string { return w.instance }

// Freeze makes w look as if it had just stood still for d (a SIGSTOP),
// before its ticker notices.
func Freeze(w *Worker, d time.Duration) { w.tick.Add(-int64(d)) }

// ServeOwner makes w, which does not Run, answer wake-up requests for the
// runs it holds until the test ends.
func ServeOwner(t interface{ Cleanup(func()) }, w *Worker) error {
	sub, err := w.serveOwner(context.Background())
	if err != nil {
		return err
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return nil
}

// WakeForSignal moves the run id on w as the workflow task of a signal
// does once it asked the worker asked to take it, which did not.
func WakeForSignal(ctx context.Context, w *Worker, def Registrable, id string, asked *Worker) error {
	return w.wake(ctx, def, id, &wakeup{reason: wire.ReasonSignal, asked: asked.instance})
}

// WakeForStart moves the pending run id on w as its start hint does;
// redelivered says the hint came a second time.
func WakeForStart(ctx context.Context, w *Worker, def Registrable, id string, redelivered bool) error {
	return w.wake(ctx, def, id, &wakeup{reason: wire.ReasonStart, redelivered: redelivered})
}

// WakeForExecStart moves run id on w as the start task of its execution
// exec (after a continue-as-new) does.
func WakeForExecStart(ctx context.Context, w *Worker, def Registrable, id string, exec int) error {
	return w.wake(ctx, def, id, &wakeup{reason: wire.ReasonStart, exec: exec})
}

// JustThawed makes w look as if it had dropped its runs after a freeze a
// moment ago.
func JustThawed(w *Worker) { w.droppedAt.Store(time.Now().UnixNano()) }

// WakeForSignalAgain is WakeForSignal for a signal's message delivered a
// second time.
func WakeForSignalAgain(ctx context.Context, w *Worker, def Registrable, id string, asked *Worker) error {
	return w.wake(ctx, def, id, &wakeup{reason: wire.ReasonSignal, asked: asked.instance, redelivered: true})
}

// IsOwnerUnsure reports whether a task failed because the run's owner could
// not be asked, to be tried again shortly.
func IsOwnerUnsure(err error) bool { return errors.Is(err, errOwnerUnsure) }

// Sweeper steps through a reporting sweeper's sweeps (it repairs nothing,
// as Doctor without --repair).
type Sweeper struct{ s *sweeper }

// NewSweeper makes a sweeper over c's deployment.
func NewSweeper(c *Client, grace time.Duration) *Sweeper {
	return &Sweeper{&sweeper{env: c.env, log: c.cfg.logger, grace: grace, name: "test"}}
}

// Sweep runs one sweep of at most page records (and, once caught up, page
// open runs looked at again): the IDs it found something about, and
// whether its read reached the last record.
func (s *Sweeper) Sweep(ctx context.Context, page int) (ids []string, done bool, err error) {
	found, done, err := s.s.sweep(ctx, page)
	for _, f := range found {
		ids = append(ids, f.WorkflowID)
	}
	return ids, done, err
}

// SetMaxOpen sets how many open runs a sweeper remembers, and returns a
// function that restores it.
func SetMaxOpen(n int) func() {
	old := maxOpen
	maxOpen = n
	return func() { maxOpen = old }
}
