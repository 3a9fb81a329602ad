package wire

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written encoder writes what encoding/json writes, byte for byte.
func TestEventJSONMatchesEncodingJSON(t *testing.T) {
	evs := []Event{
		{},
		{Event: EventStepCompleted, Workflow: "OrderOrchestration", WorkflowID: "order-1", Time: time.Now(), Seq: 3, Step: "ProcessPayment", Attempt: 2, DurationMS: 1.234, Worker: "w1"},
		{Event: EventStepRetrying, Workflow: "W", WorkflowID: "x", Time: time.Date(2026, 11, 29, 1, 2, 3, 0, time.FixedZone("X", 3600)), RetryInMS: 1e-7, Error: "card <declined> & \"quoted\"\n\ttab \x01 é \u2028 \xff", ErrorType: "PaymentDeclined", Compensation: true, ChildID: "c-1"},
		{Event: EventCompleted, Status: "completed", DurationMS: 1e21, RetryInMS: -0.5, Seq: -1, Attempt: math.MaxInt},
		{Event: "a\\b", Workflow: "\x7f", Time: time.Unix(0, 1).UTC()},
	}
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		const alphabet = "aZ09-_=. <>&\"\\\n\x00é\u2028\xff"
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 2000 {
		evs = append(evs, Event{Event: str(), Workflow: str(), WorkflowID: str(), Time: time.Unix(r.Int64N(1<<34), r.Int64N(1e9)),
			Status: str(), Seq: r.IntN(3) - 1, Step: str(), Attempt: r.IntN(3), DurationMS: r.NormFloat64() * math.Pow(10, float64(r.IntN(50)-25)),
			RetryInMS: float64(r.IntN(3)) / 7, Error: str(), ErrorType: str(), Compensation: r.IntN(2) == 0, Worker: str(), ChildID: str()})
	}
	for _, ev := range evs {
		want, werr := json.Marshal(ev)
		got, gerr := ev.appendJSON(nil)
		if (werr != nil) != (gerr != nil) || string(got) != string(want) {
			t.Fatalf("event %+v:\n got %s (%v)\nwant %s (%v)", ev, got, gerr, want, werr)
		}
	}
	for _, bad := range []Event{{DurationMS: math.NaN()}, {RetryInMS: math.Inf(1)}, {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := bad.appendJSON(nil); err == nil {
			t.Errorf("event %+v: encoded, want the error json.Marshal gives", bad)
		}
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add("step_failed", "W", "id-1", int64(1764000000), 3, "Step", 1.5, "err <x>", true)
	f.Fuzz(func(t *testing.T, event, workflow, id string, unix int64, seq int, step string, ms float64, msg string, comp bool) {
		ev := Event{Event: event, Workflow: workflow, WorkflowID: id, Time: time.Unix(unix%(1<<36), 0), Seq: seq, Step: step, DurationMS: ms, Error: msg, Compensation: comp}
		want, werr := json.Marshal(ev)
		got, gerr := ev.appendJSON(nil)
		if (werr != nil) != (gerr != nil) || string(got) != string(want) {
			t.Fatalf("got %s (%v), want %s (%v)", got, gerr, want, werr)
		}
	})
}
