package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errPoison is a reason a message cannot be processed.
var errPoison = errors.New("wire test: payload does not decode")

// fetchOne fetches one message from cons, failing the test when none comes.
func fetchOne(t *testing.T, cons jetstream.Consumer) jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetching: %v", err)
	}
	for m := range batch.Messages() {
		return m
	}
	t.Fatalf("fetching: got no message (%v), want one", batch.Error())
	return nil
}

func TestParkMovesPoisonToDeadLetters(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 20*time.Second)
	subj := env.Names.StepSubject("charge")
	// A minute of AckWait: a message fetched again soon was not left to
	// time out.
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(), ConsumerConfig("step_charge", subj, time.Minute, 10))
	if err != nil {
		t.Fatalf("creating the consumer: %v", err)
	}
	if err := env.Publish(ctx, subj, "", []byte("\xc1 not msgpack")); err != nil {
		t.Fatalf("publishing: %v", err)
	}
	m := fetchOne(t, cons)
	md, err := m.Metadata()
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}

	Park(ctx, env, m, "step", "charge", errPoison, discardLog())

	dlq, err := env.JS.Stream(ctx, env.Names.DeadLetterStream())
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	parked, err := dlq.GetLastMsgForSubject(ctx, env.Names.DeadLetterSubject("step", "charge"))
	if err != nil {
		t.Fatalf("reading the parked message: %v", err)
	}
	if got, want := string(parked.Data), "\xc1 not msgpack"; got != want {
		t.Errorf("got parked data %q, want %q", got, want)
	}
	for header, want := range map[string]string{
		"Jetflow-Reason":     errPoison.Error(),
		"Jetflow-Subject":    subj,
		"Jetflow-Stream-Seq": strconv.FormatUint(md.Sequence.Stream, 10),
	} {
		if got := parked.Header.Get(header); got != want {
			t.Errorf("header %s: got %q, want %q", header, got, want)
		}
	}

	// Terminated, not redelivered: nothing in flight, nothing left.
	waitFor(t, 5*time.Second, "the original to be terminated", func() bool {
		ci := consumerInfo(t, ctx, env, "step_charge")
		return ci.NumAckPending == 0 && ci.NumPending == 0
	})
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatalf("fetching again: %v", err)
	}
	for m := range batch.Messages() {
		t.Errorf("got %q delivered again after Park, want it gone", m.Data())
	}

	syncEvents(t, ctx, env)
	evs := streamEvents(t, env, env.Names.StatusStored("_", "_"), EventPoisonMessage)
	if len(evs) != 1 {
		t.Fatalf("got %d poison events, want 1", len(evs))
	}
	if got, want := fmt.Sprintf("%s/%s", evs[0].Step, evs[0].Error), "charge/"+errPoison.Error(); got != want {
		t.Errorf("got poison event for step/error %q, want %q", got, want)
	}
}

func TestParkNaksWhenDeadLetterStreamIsGone(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 20*time.Second)
	subj := env.Names.WorkflowSubject("order")
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(), ConsumerConfig("wf_order", subj, time.Minute, 10))
	if err != nil {
		t.Fatalf("creating the consumer: %v", err)
	}
	if err := env.Publish(ctx, subj, "", []byte("garbage")); err != nil {
		t.Fatalf("publishing: %v", err)
	}
	if err := env.JS.DeleteStream(ctx, env.Names.DeadLetterStream()); err != nil {
		t.Fatalf("deleting the dead-letter stream: %v", err)
	}

	Park(ctx, env, fetchOne(t, cons), "wf", "order", errPoison, discardLog())

	// Kept for another try after a short delay (never at once: a loop),
	// rather than lost or held for AckWait.
	m := fetchOne(t, cons)
	md, err := m.Metadata()
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if got, want := md.NumDelivered, uint64(2); got != want {
		t.Errorf("got delivery %d of the message, want %d", got, want)
	}
	if got, want := string(m.Data()), "garbage"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// streamEvents decodes the status events named event the event stream
// holds on subject.
func streamEvents(t *testing.T, env *Env, subject, event string) []Event {
	t.Helper()
	ctx := testContext(t, 5*time.Second)
	st, err := env.JS.Stream(ctx, env.Names.EventStream())
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	var evs []Event
	for seq := uint64(1); ; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			info, ierr := st.Info(ctx)
			if ierr != nil {
				t.Fatalf("event stream info: %v", ierr)
			}
			if seq > info.State.LastSeq {
				return evs
			}
			continue
		}
		if err != nil {
			t.Fatalf("reading event %d: %v", seq, err)
		}
		if raw.Subject != subject {
			continue
		}
		var ev Event
		if err := json.Unmarshal(raw.Data, &ev); err != nil {
			t.Fatalf("event %q is not JSON: %v", raw.Data, err)
		}
		if ev.Event == event {
			evs = append(evs, ev)
		}
	}
}

// A message parked by two workers (one paused past the ack wait, then
// woken) is kept once in the dead-letter stream.
func TestParkingTwiceKeepsOneCopy(t *testing.T) {
	env := startEnv(t)
	ctx := testContext(t, 20*time.Second)
	subj := env.Names.WorkflowSubject("order")
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.TaskStream(), ConsumerConfig("wf_order", subj, time.Minute, 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Publish(ctx, subj, "", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, cons)
	Park(ctx, env, m, "wf", "order", errPoison, discardLog())
	Park(ctx, env, m, "wf", "order", errPoison, discardLog())
	st, err := env.JS.Stream(ctx, env.Names.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("dead-letter stream holds %d copies, want 1", info.State.Msgs)
	}
}
