package wire

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// parkHeadroom is what parking keeps free of a message's body under the
// server's max_payload, for the headers it adds (the reason is cut to fit).
const parkHeadroom = 2048

// parkRetry is how long a message waits when it could not be parked.
const parkRetry = 2 * time.Second

// maxReason bounds the reason header.
const maxReason = 1024

// Park moves a message that cannot be processed (it does not decode, or it
// names nothing this engine knows) to the dead-letter stream with the reason
// in its headers, reports it on the status subjects, and removes it from the
// task stream. It is never retried and never takes the worker down.
//
// Parking does not fail on size: a body too large to be copied with the
// headers is cut, and the copy names the original's stream sequence and
// size. When the dead-letter stream cannot be written at all (the server is
// failing over, the store is full), the message is put back with a delay,
// never at once.
func Park(ctx context.Context, e *Env, m jetstream.Msg, kind, name string, reason error, log *slog.Logger) {
	why := reason.Error()
	if len(why) > maxReason {
		why = why[:maxReason] + "…"
	}
	hdr := nats.Header{}
	hdr.Set("Jetflow-Reason", why)
	hdr.Set("Jetflow-Subject", m.Subject())
	var opts []jetstream.PublishOpt
	if md, err := m.Metadata(); err == nil {
		seq := strconv.FormatUint(md.Sequence.Stream, 10)
		hdr.Set("Jetflow-Stream-Seq", seq)
		// Two workers may park the same message (one paused past the ack
		// wait, then woken): the copy is deduplicated by where it came
		// from.
		opts = append(opts, jetstream.WithMsgID("park."+md.Stream+"."+seq))
	}
	data := m.Data()
	if limit := int(e.MaxPayload) - parkHeadroom; e.MaxPayload > 0 && len(data) > limit {
		hdr.Set("Jetflow-Truncated", strconv.Itoa(len(data)))
		data = data[:max(limit, 0)]
	}
	_, err := e.JS.PublishMsg(ctx, &nats.Msg{Subject: e.Names.DeadLetterSubject(kind, name), Header: hdr, Data: data}, opts...)
	if err != nil {
		log.Warn("jetflow: parking poison message; put back for 2s", "subject", m.Subject(), "err", err)
		_ = m.NakWithDelay(parkRetry)
		return
	}
	log.Warn("jetflow: parked poison message", "subject", m.Subject(), "reason", why)
	if e.OnPark != nil {
		e.OnPark(kind, name)
	}
	e.Emit(Event{Event: EventPoisonMessage, Workflow: "_", WorkflowID: "_", Step: name, Error: why})
	_ = m.Term()
}
