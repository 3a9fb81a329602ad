package wire

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Park moves a message that cannot be processed (it does not decode, or it
// names nothing this engine knows) to the dead-letter stream with the reason
// in its headers, reports it on the status subjects, and removes it from the
// task stream. It is never retried and never takes the worker down.
func Park(ctx context.Context, e *Env, m jetstream.Msg, kind, name string, reason error, log *slog.Logger) {
	hdr := nats.Header{}
	hdr.Set("Jetflow-Reason", reason.Error())
	hdr.Set("Jetflow-Subject", m.Subject())
	if md, err := m.Metadata(); err == nil {
		hdr.Set("Jetflow-Stream-Seq", strconv.FormatUint(md.Sequence.Stream, 10))
	}
	_, err := e.JS.PublishMsg(ctx, &nats.Msg{Subject: e.Names.DeadLetterSubject(kind, name), Header: hdr, Data: m.Data()})
	if err != nil {
		log.Warn("jetflow: parking poison message", "subject", m.Subject(), "err", err)
		_ = m.Nak()
		return
	}
	log.Warn("jetflow: parked poison message", "subject", m.Subject(), "reason", reason)
	e.Emit(Event{Event: EventPoisonMessage, Workflow: "_", WorkflowID: "_", Step: name, Error: reason.Error()})
	_ = m.Term()
}
