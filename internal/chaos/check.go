package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// ledgerBucket is where `jetflow worker --ledger kv` (the default) records
// the effects of the demo's services: <prefix>_demo_ledger.
const ledgerBucket = "jetflow_demo_ledger"

// verdict collects what the checks found. Every problem counts as lost
// work, a duplicated effect or an unfinished run.
type verdict struct {
	lost, dup, unfinished int
	// stuck counts runs the doctor found owed progress at the end.
	stuck    int
	tasks    int
	problems []string
	byStatus map[string]int
	// signals and cancels add up the signal and cancel runs.
	signals signalTally
	cancels cancelTally
}

func (v *verdict) addLost(n int, format string, args ...any) {
	v.lost += n
	v.problems = append(v.problems, "lost: "+fmt.Sprintf(format, args...))
}

func (v *verdict) addDup(n int, format string, args ...any) {
	v.dup += n
	v.problems = append(v.problems, "duplicated: "+fmt.Sprintf(format, args...))
}

// wantCompensations are the compensations, in the order they must run, of
// an order that ended with status.
func wantCompensations(status string) []string {
	switch status {
	case demo.StatusShipmentFailed:
		return []string{demo.RefundPayment.Name(), demo.ReleaseInventory.Name()}
	case demo.StatusPaymentFailed:
		return []string{demo.ReleaseInventory.Name()}
	}
	return []string{}
}

// checker reads what the run left behind: run records, step results, the
// ledger of effects and the status events.
type checker struct {
	client *workflow.Client
	js     jetstream.JetStream
	steps  jetstream.KeyValue
}

func newChecker(ctx context.Context, c *workflow.Client, js jetstream.JetStream) (*checker, error) {
	_, stepsBucket, _ := kv.BucketNames("jetflow")
	b, err := js.KeyValue(ctx, stepsBucket)
	if err != nil {
		return nil, fmt.Errorf("chaos: opening %s: %w", stepsBucket, err)
	}
	return &checker{client: c, js: js, steps: b}, nil
}

func (ch *checker) check(ctx context.Context, runs []*run) (*verdict, error) {
	v := &verdict{byStatus: map[string]int{}}
	ledger, err := demo.OpenKVLedger(ctx, ch.js, ledgerBucket)
	if err != nil {
		return nil, err
	}
	effects, err := ledger.Effects(ctx)
	if err != nil {
		return nil, err
	}
	attributed := map[string]bool{}
	for _, r := range runs {
		var mine []demo.Effect
		if r.order != nil {
			mine = demo.ForOrder(effects, r.id)
		} else {
			for _, e := range effects {
				if e.Run == r.id {
					mine = append(mine, e)
				}
			}
		}
		for _, e := range mine {
			attributed[e.Key] = true
		}
		n := len(v.problems)
		if r.order != nil {
			err = ch.checkOrder(ctx, v, r, demo.Count(mine))
		} else {
			err = ch.checkShape(ctx, v, r, mine)
		}
		if err != nil {
			return nil, err
		}
		if len(v.problems) > n {
			if len(mine) <= 20 {
				v.problems = append(v.problems, fmt.Sprintf("effects of %s: %s", r.id, ch.describeEffects(ctx, mine)))
			}
			v.problems = append(v.problems, fmt.Sprintf("events of %s: %s", r.id, ch.describeEvents(ctx, r.workflow, r.id)))
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for _, e := range effects {
		if !attributed[e.Key] {
			v.addDup(1, "effect %s %s (key %s) belongs to no run", e.Kind, e.Ref, e.Key)
		}
	}
	if err := ch.checkStepResults(ctx, v); err != nil {
		return nil, err
	}
	if err := ch.checkEvents(ctx, v, runs); err != nil {
		return nil, err
	}
	return v, nil
}

// checkOrder checks one order's run, compensations and effects.
func (ch *checker) checkOrder(ctx context.Context, v *verdict, o *run, got demo.Counts) error {
	run, closed, err := ch.closedRecord(ctx, v, o)
	if err != nil || !closed {
		if err == nil && o.startErr == nil {
			checkEffectBounds(v, o, got)
		}
		return err
	}
	status := string(run.Status)
	if status == kv.StatusCompleted {
		var out demo.OrderOutput
		if err := kv.UnmarshalPayload(run.Output, &out); err != nil {
			v.addLost(1, "%s (%s): output does not decode: %v", o.id, o.kind, err)
			return nil
		}
		status = out.Status
	}
	v.byStatus[status]++
	if status != o.order.want {
		why := ""
		if run.Error != nil {
			why = fmt.Sprintf(" (%s: %s)", run.Error.Type, run.Error.Message)
		}
		v.addLost(1, "%s (%s) ended %s%s, want %s", o.id, o.kind, status, why, o.order.want)
	}

	// Compensations: exactly those the status calls for, in order, each
	// recorded as succeeded.
	var comps []string
	hist, err := ch.client.History(ctx, o.id)
	if err != nil {
		return fmt.Errorf("chaos: reading the history of %s: %w", o.id, err)
	}
	for _, c := range hist {
		if !c.Compensation {
			continue
		}
		comps = append(comps, c.Name)
		switch {
		case !c.Done:
			v.addLost(1, "%s: compensation %s (position %d) has no recorded result", o.id, c.Name, c.Seq)
		case c.Error != nil:
			v.addLost(1, "%s: compensation %s failed: %s: %s", o.id, c.Name, c.Error.Type, c.Error.Message)
		}
	}
	if _, known := demo.WantEffects(status); known && !slices.Equal(comps, wantCompensations(status)) {
		want := wantCompensations(status)
		if len(comps) > len(want) {
			v.addDup(len(comps)-len(want), "%s (%s, %s): compensations %v, want %v", o.id, o.kind, status, comps, want)
		} else {
			v.addLost(max(1, len(want)-len(comps)), "%s (%s, %s): compensations %v, want %v", o.id, o.kind, status, comps, want)
		}
	}

	// Effects: what the status calls for, each once.
	want, known := demo.WantEffects(status)
	if !known {
		checkEffectBounds(v, o, got)
		return nil
	}
	for _, k := range []struct {
		what      string
		got, want int
	}{
		{"reserved", got.Reserved, want.Reserved},
		{"released", got.Released, want.Released},
		{"charged", got.Charged, want.Charged},
		{"refunded", got.Refunded, want.Refunded},
		{"shipped", got.Shipped, want.Shipped},
		{"notified", got.Notified, want.Notified},
	} {
		switch {
		case k.got > k.want:
			v.addDup(k.got-k.want, "%s (%s, %s): %s %d times, want %d", o.id, o.kind, status, k.what, k.got, k.want)
		case k.got < k.want:
			v.addLost(k.want-k.got, "%s (%s, %s): %s %d times, want %d", o.id, o.kind, status, k.what, k.got, k.want)
		}
	}
	if got.Refunded > 0 && got.RefundedAmount != got.ChargedAmount {
		v.addLost(1, "%s (%s): refunded %.2f of a %.2f charge", o.id, o.kind, got.RefundedAmount, got.ChargedAmount)
	}
	return nil
}

// checkEffectBounds applies the invariants that hold at any moment of an
// order, whatever its status: charged at most once, refunded only if
// charged, reserved at most once and never released or shipped more than
// reserved.
func checkEffectBounds(v *verdict, o *run, c demo.Counts) {
	if c.Charged > 1 {
		v.addDup(c.Charged-1, "%s (%s): charged %d times", o.id, o.kind, c.Charged)
	}
	if c.Refunded > c.Charged {
		v.addDup(c.Refunded-c.Charged, "%s (%s): refunded %d times for %d charges", o.id, o.kind, c.Refunded, c.Charged)
	}
	if c.Reserved > 1 {
		v.addDup(c.Reserved-1, "%s (%s): reserved %d times", o.id, o.kind, c.Reserved)
	}
	if out := c.Released + c.Shipped; out > c.Reserved {
		v.addDup(out-c.Reserved, "%s (%s): released %d and shipped %d of %d reservations", o.id, o.kind, c.Released, c.Shipped, c.Reserved)
	}
}

// checkStepResults checks that no step result was recorded twice: the steps
// bucket's stream (history 1, create-only writes) holds every message it
// was ever sent — a second write to a key would replace the first and make
// Msgs fall behind LastSeq — and one message per key. A server restart
// loses nothing here: R1 file streams write every message before the ack.
func (ch *checker) checkStepResults(ctx context.Context, v *verdict) error {
	_, stepsBucket, _ := kv.BucketNames("jetflow")
	stream := "KV_" + stepsBucket
	s, err := ch.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("chaos: stream %s: %w", stream, err)
	}
	prefix := "$KV." + stepsBucket + "."
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return fmt.Errorf("chaos: stream %s info: %w", stream, err)
	}
	if info.State.Msgs != info.State.LastSeq-info.State.FirstSeq+1 && info.State.Msgs > 0 {
		v.addDup(int(info.State.LastSeq-info.State.FirstSeq+1-info.State.Msgs),
			"%s holds %d results for %d writes: results were written over", stream, info.State.Msgs, info.State.LastSeq-info.State.FirstSeq+1)
	}
	for subj, n := range info.State.Subjects {
		if strings.Contains(subj, ".h.") {
			v.tasks++
		}
		if n > 1 {
			v.addDup(int(n-1), "step result %s recorded %d times", strings.TrimPrefix(subj, prefix), n)
		}
	}
	return nil
}

// checkEvents checks the status events: a run closes (completed, failed,
// compensation_failed, canceled, terminated) at most once, and each position's result is
// announced (step_completed, step_failed) at most once per execution that
// has it, since both follow a write only one writer can win. Events are
// fire-and-forget, so one may be missing after a server restart; none may
// be doubled.
func (ch *checker) checkEvents(ctx context.Context, v *verdict, runs []*run) error {
	names := wire.NewNames("jetflow")
	evs, err := storedEvents(ctx, ch.js, names.StoredStatusFilters("*", "*"))
	if err != nil {
		return err
	}
	closing := map[string]int{}
	var results []wire.Event
	for _, ev := range evs {
		switch {
		case slices.Contains(wire.ClosingEvents, ev.Event):
			closing[ev.WorkflowID]++
		case ev.Event == wire.EventStepCompleted, ev.Event == wire.EventStepFailed:
			results = append(results, ev)
		}
	}
	for id, n := range closing {
		if n > 1 {
			v.addDup(n-1, "run %s closed %d times", id, n)
		}
	}
	type position struct {
		id  string
		seq int
	}
	announced := map[position]int{}
	for _, ev := range results {
		announced[position{ev.WorkflowID, ev.Seq}]++
	}
	byID := map[string]*run{}
	for _, r := range runs {
		byID[r.id] = r
	}
	for p, n := range announced {
		allowed := 1
		if r := byID[p.id]; r != nil && r.shape != nil {
			allowed = r.shape.announcements(p.seq)
		}
		if n > allowed {
			v.addDup(n-allowed, "result %s announced %d times, want at most %d", kv.StepKey(p.id, p.seq), n, allowed)
		}
	}
	return nil
}

// runOfSubject is the workflow ID in <prefix>.status.<workflow>.<id>.<event>.
func runOfSubject(subj string) string {
	tok := strings.Split(subj, ".")
	if len(tok) < 5 {
		return subj
	}
	return tok[len(tok)-2]
}

// storedEvents decodes the events the event stream holds on filters.
func storedEvents(ctx context.Context, js jetstream.JetStream, filters []string) ([]wire.Event, error) {
	data, err := streamData(ctx, js, wire.NewNames("jetflow").EventStream(), filters...)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Event, 0, len(data))
	for _, d := range data {
		var ev wire.Event
		if err := json.Unmarshal(d, &ev); err != nil {
			return nil, fmt.Errorf("chaos: event %q: %w", d, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func subjectCounts(ctx context.Context, js jetstream.JetStream, stream, filter string) (map[string]uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("chaos: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("chaos: stream %s info (%s): %w", stream, filter, err)
	}
	return info.State.Subjects, nil
}

// streamData reads the data of every message of stream on the filters, in order.
func streamData(ctx context.Context, js jetstream.JetStream, stream string, filters ...string) ([][]byte, error) {
	msgs, err := streamMsgs(ctx, js, stream, filters...)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Data()
	}
	return out, err
}

// streamMsgs reads every message of stream on the filters, in order.
func streamMsgs(ctx context.Context, js jetstream.JetStream, stream string, filters ...string) ([]jetstream.Msg, error) {
	var want uint64
	for _, f := range filters {
		counts, err := subjectCounts(ctx, js, stream, f)
		if err != nil {
			return nil, err
		}
		for _, n := range counts {
			want += n
		}
	}
	if want == 0 {
		return nil, nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		return nil, fmt.Errorf("chaos: reading %s: %w", stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return nil, fmt.Errorf("chaos: reading %s: %w", stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var out []jetstream.Msg
	for {
		m, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("chaos: reading %s after %d of %d messages: %w", stream, len(out), want, err)
		}
		out = append(out, m)
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if md.NumPending == 0 {
			return out, nil
		}
	}
}

// describeEffects lists effects for a problem report, with the time the
// ledger stored each.
func (ch *checker) describeEffects(ctx context.Context, effects []demo.Effect) string {
	b, _ := ch.js.KeyValue(ctx, ledgerBucket)
	parts := make([]string, 0, len(effects))
	for _, e := range effects {
		p := e.Kind + " " + e.Ref + " key=" + e.Key
		if e.Channel != "" {
			p += " channel=" + e.Channel
		}
		if e.Undoes != "" {
			p += " undoes=" + e.Undoes
		}
		if b != nil {
			if entry, err := b.Get(ctx, e.Key); err == nil {
				p += " at " + entry.Created().UTC().Format("15:04:05.000")
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// describeEvents is the run's timeline for a problem report.
func (ch *checker) describeEvents(ctx context.Context, workflow, id string) string {
	names := wire.NewNames("jetflow")
	data, err := streamData(ctx, ch.js, names.EventStream(), names.StoredStatusFilters(workflow, id)...)
	if err != nil {
		return err.Error()
	}
	parts := make([]string, 0, len(data))
	for _, d := range data {
		var ev wire.Event
		if json.Unmarshal(d, &ev) != nil {
			continue
		}
		p := ev.Time.UTC().Format("15:04:05.000") + " " + ev.Event
		if ev.Seq > 0 {
			p += fmt.Sprintf(" %d:%s#%d", ev.Seq, ev.Step, ev.Attempt)
		}
		if ev.ErrorType != "" {
			p += " " + ev.ErrorType
		}
		if ev.Worker != "" {
			p += " by " + ev.Worker
		}
		parts = append(parts, p)
	}
	if len(parts) > 60 {
		// A long run's timeline: its start and its end.
		parts = append(append(parts[:10:10], fmt.Sprintf("… %d events …", len(parts)-60)), parts[len(parts)-50:]...)
	}
	return strings.Join(parts, "\n\t")
}
