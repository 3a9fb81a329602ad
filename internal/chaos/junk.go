package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// junk is a message the harness published on a task subject. Nothing can
// decode it: it must be parked once (one copy in the dead-letter stream
// naming its stream sequence) and leave the task stream.
type junk struct {
	fault   string
	subject string
	msgID   string
	size    int
	// seq is its sequence in the task stream.
	seq uint64
	// victim is the run a forged deduplication ID was meant to stop.
	victim string
}

// notMsgpack starts every junk body: 0xc1 is the one byte msgpack never
// uses, so no decoder takes the rest for a task.
const notMsgpack = 0xc1

// poisonSubjects are the task subjects a poison message may land on: the
// workflow tasks of the saga and of the exercise workflows, and the step
// tasks of a saga step and of the exercises' step.
func poisonSubjects() []string {
	n := wire.NewNames("jetflow")
	return []string{
		n.WorkflowSubject(demo.OrderOrchestration.Name()), n.WorkflowSubject(demo.LongChain.Name()),
		n.WorkflowSubject(demo.FanOut.Name()), n.WorkflowSubject(demo.StepOrTimer.Name()),
		n.WorkflowSubject(demo.SignalCollector.Name()), n.WorkflowSubject(demo.CancelChain.Name()),
		n.StepSubject(demo.ValidateOrder.Name()), n.StepSubject(demo.ProcessPayment.Name()), n.StepSubject(demo.Tally.Name()),
		n.StepSubject(demo.Mark.Name()),
	}
}

// poison publishes junk just under the server's max_payload on a random
// task subject.
func (in *injector) poison(ctx context.Context) (string, error) {
	subjects := poisonSubjects()
	j := junk{fault: FaultPoison, subject: subjects[in.rnd.IntN(len(subjects))], msgID: fmt.Sprintf("chaos-poison-%d", len(in.junk)+1)}
	// The headers (the deduplication ID) count toward max_payload too.
	body := make([]byte, int(in.maxPayload)-256)
	fill(in.rnd, body)
	if err := in.publishJunk(ctx, &j, body); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d bytes of junk on %s (max_payload %d), stream sequence %d", j.size, j.subject, in.maxPayload, j.seq), nil
}

// forge publishes junk with the deduplication ID that the first step task
// of the next order to start had under the old scheme, before it starts.
// Runs now have an incarnation in their IDs, so the junk takes nothing
// from the order.
func (in *injector) forge(ctx context.Context) (string, error) {
	victim := nextOrder(in.runs)
	if victim == nil {
		return "", fmt.Errorf("chaos: every order started already; no victim for a forged ID")
	}
	defer victim.mu.Unlock()
	j := junk{fault: FaultForgedID, subject: wire.NewNames("jetflow").StepSubject(demo.ValidateOrder.Name()),
		msgID: wire.MsgID(victim.id, 1, 1, "step"), victim: victim.id}
	body := append([]byte{notMsgpack}, "junk from the chaos harness under the old deduplication ID of "+victim.id+"'s first step"...)
	if err := in.publishJunk(ctx, &j, body); err != nil {
		return "", err
	}
	return fmt.Sprintf("junk with Nats-Msg-Id %s on %s before %s starts, stream sequence %d", j.msgID, j.subject, victim.id, j.seq), nil
}

// publishJunk publishes body as j until the stream acknowledges it (the
// server may still be coming back from a restart); the deduplication ID
// keeps a retried publish from storing it twice.
func (in *injector) publishJunk(ctx context.Context, j *junk, body []byte) error {
	body[0] = notMsgpack
	j.size = len(body)
	deadline := time.Now().Add(30 * time.Second)
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := in.js.PublishMsg(pctx, &nats.Msg{Subject: j.subject, Data: body}, jetstream.WithMsgID(j.msgID))
		cancel()
		if err == nil {
			// A duplicate after a retry is the first try, stored but
			// unacknowledged; on the first try the ID was taken already.
			if ack.Duplicate && try == 1 {
				return fmt.Errorf("chaos: junk %s on %s was taken for a duplicate (of sequence %d)", j.msgID, j.subject, ack.Sequence)
			}
			j.seq = ack.Sequence
			in.junk = append(in.junk, *j)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("chaos: publishing junk on %s: %w", j.subject, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
			return err
		}
	}
}

func fill(rnd *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		x := rnd.Uint64()
		for k := 0; k < 8 && i+k < len(b); k++ {
			b[i+k] = byte(x >> (8 * k))
		}
	}
}

// checkJunk checks that each junk message was parked once — one copy in the
// dead-letter stream naming its task-stream sequence — and is gone from the
// task stream. It returns how many other messages were parked, by reason.
func (ch *checker) checkJunk(ctx context.Context, v *verdict, junks []junk) (map[string]int, error) {
	names := wire.NewNames("jetflow")
	msgs, err := streamMsgs(ctx, ch.js, names.DeadLetterStream(), names.Prefix+".dlq.>")
	if err != nil {
		return nil, err
	}
	parked := map[uint64]int{}
	for _, m := range msgs {
		seq, _ := strconv.ParseUint(m.Headers().Get("Jetflow-Stream-Seq"), 10, 64)
		parked[seq]++
	}
	mine := map[uint64]bool{}
	for _, j := range junks {
		mine[j.seq] = true
		switch n := parked[j.seq]; {
		case n == 0:
			v.addLost(1, "%s %s (sequence %d on %s) was never parked", j.fault, j.msgID, j.seq, j.subject)
		case n > 1:
			v.addDup(n-1, "%s %s (sequence %d on %s) was parked %d times", j.fault, j.msgID, j.seq, j.subject, n)
		}
	}
	tasks, err := ch.js.Stream(ctx, names.TaskStream())
	if err != nil {
		return nil, fmt.Errorf("chaos: stream %s: %w", names.TaskStream(), err)
	}
	for _, j := range junks {
		_, err := tasks.GetMsg(ctx, j.seq)
		switch {
		case err == nil:
			v.unfinished++
			v.problems = append(v.problems, fmt.Sprintf("unfinished: %s %s (sequence %d on %s) is still in %s", j.fault, j.msgID, j.seq, j.subject, names.TaskStream()))
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return nil, fmt.Errorf("chaos: looking for junk %d in %s: %w", j.seq, names.TaskStream(), err)
		}
	}
	others := map[string]int{}
	for _, m := range msgs {
		seq, _ := strconv.ParseUint(m.Headers().Get("Jetflow-Stream-Seq"), 10, 64)
		if !mine[seq] {
			others[m.Headers().Get("Jetflow-Reason")]++
		}
	}
	return others, nil
}
