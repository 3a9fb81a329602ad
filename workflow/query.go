package workflow

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
)

// Queries read the state of a running workflow without changing it:
//
//	// in workflow code, once
//	workflow.SetQueryHandler(ctx, "progress", func() (Progress, error) { return p, nil })
//
//	// from outside
//	p, err := workflow.Query[Progress](ctx, client, "order-17", "progress")
//
// The worker that holds the run in memory answers from it, between two of
// the run's tasks; when none does, a worker of its type rebuilds the run from
// its history to answer (and lets it go). A handler must not block and must
// not change the workflow's state: it is not part of the history.

// SetQueryHandler makes fn answer the query name for this run. Setting a
// name again replaces its handler.
func SetQueryHandler[T any](ctx Context, name string, fn func() (T, error)) error {
	if !steps.ValidName(name) {
		return fmt.Errorf("%w: query %q (letters, digits, '-' and '_')", ErrInvalidName, name)
	}
	e := ctx.state().e
	if e.queries == nil {
		e.queries = map[string]func() ([]byte, error){}
	}
	e.queries[name] = func() ([]byte, error) {
		v, err := fn()
		if err != nil {
			return nil, err
		}
		return kv.MarshalPayload(v)
	}
	return nil
}

// ErrQuery matches (errors.Is) every *QueryError.
var ErrQuery = errors.New("jetflow: query failed")

// QueryError is a query that got no answer: no worker serves the run's
// workflow type, none answered in time, the run has no handler for it, or
// the handler failed.
type QueryError struct {
	WorkflowID string
	Query      string
	Reason     string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("jetflow: query %s of run %s: %s", e.Query, e.WorkflowID, e.Reason)
}

// Is matches ErrQuery.
func (e *QueryError) Is(target error) bool { return target == ErrQuery }

// queryTimeout bounds a query when its context has no deadline.
const queryTimeout = 10 * time.Second

// Query asks the run id the query name and decodes the answer into T. An
// unknown run is ErrNotFound, an ended one a *RunClosedError; no answer, an
// unknown query or a failing handler a *QueryError.
func Query[T any](ctx context.Context, c *Client, id, name string) (T, error) {
	var v T
	data, err := c.QueryRaw(ctx, id, name)
	if err != nil {
		return v, err
	}
	err = kv.UnmarshalPayload(data, &v)
	return v, err
}

// QueryRaw is Query with the answer in the payload encoding.
func (c *Client) QueryRaw(ctx context.Context, id, name string) ([]byte, error) {
	if !steps.ValidName(name) {
		return nil, fmt.Errorf("%w: query %q (letters, digits, '-' and '_')", ErrInvalidName, name)
	}
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if kv.Terminal(run.Status) {
		return nil, &RunClosedError{WorkflowID: id, Status: run.Status}
	}
	req, err := kv.Marshal(wire.QueryMsg{WorkflowID: id, Name: name})
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, queryTimeout)
		defer cancel()
	}
	msg, err := c.env.NC.RequestWithContext(ctx, c.env.Names.QuerySubject(run.Workflow, id), req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, &QueryError{WorkflowID: id, Query: name, Reason: "no worker serves workflow " + run.Workflow}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return nil, &QueryError{WorkflowID: id, Query: name, Reason: "no worker answered in time"}
	case err != nil:
		return nil, err
	}
	var reply wire.QueryReply
	if err := kv.Unmarshal(msg.Data, &reply); err != nil {
		return nil, err
	}
	if reply.Error != "" {
		if reply.Closed != "" {
			return nil, &RunClosedError{WorkflowID: id, Status: reply.Closed}
		}
		return nil, &QueryError{WorkflowID: id, Query: name, Reason: reply.Error}
	}
	return reply.Value, nil
}

// maxQueriesAtOnce bounds the queries a worker answers at once.
const maxQueriesAtOnce = 16

// serveQueries answers the queries of one workflow type (a queue group:
// one worker of the type gets each).
func (w *Worker) serveQueries(ctx context.Context, def Registrable) (*nats.Subscription, error) {
	sem := make(chan struct{}, maxQueriesAtOnce)
	return w.env.NC.QueueSubscribe(w.env.Names.QuerySubject(def.Name(), "*"), "query_"+def.Name(), func(m *nats.Msg) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-sem }()
			_ = m.Respond(w.answer(ctx, def, m.Data))
		}()
	})
}

// answer runs one query against the run: the copy this worker holds, or one
// rebuilt from the history for the occasion.
func (w *Worker) answer(ctx context.Context, def Registrable, data []byte) []byte {
	reply := func(r wire.QueryReply) []byte {
		out, _ := kv.Marshal(r)
		return out
	}
	var q wire.QueryMsg
	if err := kv.Unmarshal(data, &q); err != nil || ValidateID(q.WorkflowID) != nil {
		return reply(wire.QueryReply{Error: "the query does not decode"})
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	ent := w.runs.acquire(q.WorkflowID)
	defer w.runs.release(ent)
	ent.mu.Lock()
	defer ent.mu.Unlock()
	x := w.runs.current(ent)
	if x == nil {
		loaded, err := w.load(ctx, def, q.WorkflowID, true)
		if err != nil {
			return reply(wire.QueryReply{Error: "rebuilding the run: " + err.Error()})
		}
		if loaded == nil {
			run, _, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, q.WorkflowID)
			if err == nil && kv.Terminal(run.Status) {
				return reply(wire.QueryReply{Error: "closed", Closed: run.Status})
			}
			return reply(wire.QueryReply{Error: "the run is not one of " + def.Name() + " this worker can rebuild"})
		}
		defer loaded.kill() // not kept: this worker did not move the run
		x = loaded
	}
	value, why := x.query(q.Name)
	if why != "" {
		return reply(wire.QueryReply{Error: why})
	}
	return reply(wire.QueryReply{Value: value})
}

// query runs the run's handler for the query name; why says why there is
// no answer ("" when there is one).
func (x *execution) query(name string) (value []byte, why string) {
	h := x.queries[name]
	if h == nil {
		known := make([]string, 0, len(x.queries))
		for n := range x.queries {
			known = append(known, n)
		}
		sort.Strings(known)
		has := "it has none"
		if len(known) > 0 {
			has = "it has: " + strings.Join(known, ", ")
		}
		return nil, fmt.Sprintf("the run has no handler for query %s (%s)", name, has)
	}
	value, err := callQuery(h)
	if err != nil {
		return nil, "the handler failed: " + err.Error()
	}
	return value, ""
}

// callQuery runs a handler, a panic included.
func callQuery(h func() ([]byte, error)) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h()
}
