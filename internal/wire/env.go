package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Env is one connection's view of the engine: names, streams, buckets.
type Env struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Names   Names
	Buckets *kv.Buckets
	Config  Config
	// MaxPayload is the server's max_payload for this connection.
	MaxPayload int64
	// OnPark, when set, is called for every message Park parks.
	OnPark func(kind, name string)
	// Changes says what Setup created or updated (nil after Bind).
	Changes []Change

	served  sync.Map
	streams sync.Map
}

// Publish publishes data on subj with a deduplication ID and waits for the ack.
// An empty msgID publishes without deduplication: for messages whose
// duplicates are harmless, so they cost nothing in the server's ID window.
func (e *Env) Publish(ctx context.Context, subj, msgID string, data []byte) error {
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err := e.JS.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data}, opts...)
	if err != nil {
		return fmt.Errorf("jetflow: publishing %s: %w", subj, err)
	}
	return nil
}

// PubAck is a publish in flight; WaitAcks waits for a set of them.
type PubAck = jetstream.PubAckFuture

// PublishAsync publishes data on subj with a deduplication ID without
// waiting for the ack; WaitAcks collects them. Many messages then cost one
// round trip instead of one each.
func (e *Env) PublishAsync(subj, msgID string, data []byte) (PubAck, error) {
	return e.PublishAsyncHeader(subj, msgID, nil, data)
}

// PublishAsyncHeader is PublishAsync for a message with headers (nil: none),
// such as a task's trace context.
func (e *Env) PublishAsyncHeader(subj, msgID string, hdr nats.Header, data []byte) (PubAck, error) {
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	a, err := e.JS.PublishMsgAsync(&nats.Msg{Subject: subj, Data: data, Header: hdr}, opts...)
	if err != nil {
		return nil, fmt.Errorf("jetflow: publishing %s: %w", subj, err)
	}
	return a, nil
}

// publishTimeout bounds how long a publish waits for the stream's ack.
const publishTimeout = 5 * time.Second

// WaitAcks waits until every publish in acks is acknowledged, and returns
// the first error; an ack that does not come within publishTimeout is an
// error too.
func (e *Env) WaitAcks(ctx context.Context, acks []PubAck) error {
	if len(acks) == 0 {
		return nil
	}
	timer := time.NewTimer(publishTimeout + time.Second)
	defer timer.Stop()
	for _, a := range acks {
		select {
		case <-a.Ok():
		case err := <-a.Err():
			return fmt.Errorf("jetflow: publishing %s: %w", a.Msg().Subject, err)
		case <-timer.C:
			return fmt.Errorf("jetflow: publishing %s: no ack within %s", a.Msg().Subject, publishTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// PublishAt publishes data on target when at comes, using a message schedule
// held on schedSubj. The schedule itself is deduplicated by msgID (none when
// empty: the schedule subject rolls up anyway); a schedule due now or in the
// past is published at once instead.
func (e *Env) PublishAt(ctx context.Context, schedSubj, target, msgID string, data []byte, at time.Time) error {
	return e.PublishAtHeader(ctx, schedSubj, target, msgID, nil, data, at)
}

// PublishAtHeader is PublishAt for a message with headers (nil: none); the
// server hands them on to the message it publishes on target.
func (e *Env) PublishAtHeader(ctx context.Context, schedSubj, target, msgID string, hdr nats.Header, data []byte, at time.Time) error {
	if time.Until(at) <= 0 {
		var opts []jetstream.PublishOpt
		if msgID != "" {
			opts = append(opts, jetstream.WithMsgID(msgID))
		}
		if _, err := e.JS.PublishMsg(ctx, &nats.Msg{Subject: target, Data: data, Header: hdr}, opts...); err != nil {
			return fmt.Errorf("jetflow: publishing %s: %w", target, err)
		}
		return nil
	}
	m := &nats.Msg{Subject: schedSubj, Data: data, Header: nats.Header{}}
	for k, v := range hdr {
		m.Header[k] = v
	}
	// jetstream.WithScheduleAt rounds to whole seconds; the server parses
	// RFC 3339 with fractions, so keep them and fire no earlier than asked.
	m.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set(jetstream.ScheduleTargetHeader, target)
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID+".sched"))
	}
	_, err := e.JS.PublishMsg(ctx, m, opts...)
	if err != nil {
		return fmt.Errorf("jetflow: scheduling %s at %s: %w", target, at.Format(time.RFC3339Nano), err)
	}
	return nil
}

// PublishWorkflowTask wakes the run's workflow code.
func (e *Env) PublishWorkflowTask(ctx context.Context, t WorkflowTask, msgID string) error {
	data, err := kv.Marshal(t)
	if err != nil {
		return err
	}
	return e.Publish(ctx, e.Names.WorkflowSubject(t.Workflow), msgID, data)
}

// Served reports whether some worker has created the durable consumer of a
// workflow type or step (it exists from a worker's first Run on). Positive
// answers are cached: consumers are durable.
func (e *Env) Served(ctx context.Context, consumer string) bool {
	if _, ok := e.served.Load(consumer); ok {
		return true
	}
	if _, err := e.JS.Consumer(ctx, e.Names.TaskStream(), consumer); err != nil {
		return false
	}
	e.served.Store(consumer, true)
	return true
}

// PurgeRun removes every trace of one run: its step results, its status
// events and its record, each with one subject-filtered stream purge (no
// delete markers are left behind).
func (e *Env) PurgeRun(ctx context.Context, workflow, id string) error {
	runs, steps, _ := kv.BucketNames(e.Names.Prefix)
	for _, p := range []struct{ stream, subject string }{
		{"KV_" + steps, "$KV." + steps + "." + id + ".>"},
		{e.Names.EventStream(), e.Names.StatusStored(workflow, id)},
		{e.Names.EventStream(), e.Names.StatusFilter(workflow, id)}, // stored by a jetflow before 2026-11-29
		{"KV_" + runs, "$KV." + runs + "." + id},
	} {
		st, err := e.Stream(ctx, p.stream)
		if err != nil {
			return err
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(p.subject)); err != nil {
			return fmt.Errorf("jetflow: purging %s from %s: %w", p.subject, p.stream, err)
		}
	}
	return nil
}

// PurgeIncarnation removes the step results, history, retry records and
// breaker claims of every execution of one incarnation of a run (keys
// "<id>.<inc>" and below): what a closed run leaves behind once a new run
// has taken its ID. Its record, replaced by the new run's, and its events,
// on the same subjects as the new run's, are left alone.
func (e *Env) PurgeIncarnation(ctx context.Context, id, inc string) error {
	if inc == "" {
		return fmt.Errorf("jetflow: purging an incarnation of %s: no incarnation", id)
	}
	_, steps, _ := kv.BucketNames(e.Names.Prefix)
	st, err := e.StepsStream(ctx)
	if err != nil {
		return err
	}
	subj := "$KV." + steps + "." + kv.ExecKey(id, inc, 1) + ".>"
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("jetflow: purging %s: %w", subj, err)
	}
	return nil
}

// StepsStream is the stream behind the steps bucket (results, history
// batches, breaker claims).
func (e *Env) StepsStream(ctx context.Context) (jetstream.Stream, error) {
	_, steps, _ := kv.BucketNames(e.Names.Prefix)
	return e.Stream(ctx, "KV_"+steps)
}

// PurgeExec removes the step results, history, retry records, breaker
// claims and takeover claims of one execution of a run that continued as
// new (execKey "<id>.x<n>" or the first's "<id>"), and nothing of the
// executions after it.
func (e *Env) PurgeExec(ctx context.Context, execKey string) error {
	_, steps, _ := kv.BucketNames(e.Names.Prefix)
	st, err := e.StepsStream(ctx)
	if err != nil {
		return err
	}
	p := "$KV." + steps + "." + execKey + "."
	for _, subj := range []string{p + "*", p + "h.*", p + "r.>", p + "a.>", p + "o.*"} {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("jetflow: purging %s: %w", subj, err)
		}
	}
	return nil
}

// Stream returns a handle on the named stream, looked up once per Env.
func (e *Env) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	if s, ok := e.streams.Load(name); ok {
		return s.(jetstream.Stream), nil
	}
	s, err := e.JS.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("jetflow: opening stream %s: %w", name, err)
	}
	e.streams.Store(name, s)
	return s, nil
}

// Keys lists the keys of one of the namespace's buckets, sorted, from the
// subjects its stream holds (one stream info request a page): no consumer,
// so a reader needs no right to create one on the bucket. A deleted key
// may still be listed (its delete marker holds the subject); a get then
// finds nothing.
func (e *Env) Keys(ctx context.Context, bucket string) ([]string, error) {
	st, err := e.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + bucket + "."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("jetflow: listing the keys of %s: %w", bucket, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	slices.Sort(keys)
	return keys, nil
}
