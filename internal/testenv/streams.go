package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream returns a JetStream handle on nc.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// SyncStream publishes a marker on subject through JetStream and waits for
// the stream that captures subject to store it. A stream stores what one
// connection sends it in order, so when SyncStream returns, every message nc
// published earlier to that stream (core publishes such as status events
// included) is stored and can be counted.
func SyncStream(t testing.TB, ctx context.Context, nc *nats.Conn, subject string) {
	t.Helper()
	if _, err := JetStream(t, nc).Publish(ctx, subject, []byte(`{"event":"test_sync"}`)); err != nil {
		t.Fatalf("syncing the stream of %s: %v", subject, err)
	}
}

// SubjectCounts returns, for every subject of stream matching filter, how
// many messages the stream holds on it.
func SubjectCounts(t testing.TB, ctx context.Context, js jetstream.JetStream, stream, filter string) map[string]uint64 {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatalf("stream %s info filtered by %s: %v", stream, filter, err)
	}
	if info.State.Subjects == nil {
		return map[string]uint64{}
	}
	return info.State.Subjects
}

// StreamData returns the data of every message stream holds on subjects
// matching filter, in stream order.
func StreamData(t testing.TB, ctx context.Context, js jetstream.JetStream, stream, filter string) [][]byte {
	t.Helper()
	var want uint64
	for _, n := range SubjectCounts(t, ctx, js, stream, filter) {
		want += n
	}
	if want == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatalf("reading %s (%s): %v", stream, filter, err)
	}
	var out [][]byte
	for {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("reading %s (%s) after %d of %d messages: %v", stream, filter, len(out), want, err)
		}
		out = append(out, m.Data())
		md, err := m.Metadata()
		if err != nil {
			t.Fatalf("metadata of a message of %s: %v", stream, err)
		}
		if md.NumPending == 0 {
			return out
		}
	}
}

// Events decodes the status events stream holds on subjects matching filter.
func Events(t testing.TB, ctx context.Context, js jetstream.JetStream, stream, filter string) []wire.Event {
	t.Helper()
	var evs []wire.Event
	for _, d := range StreamData(t, ctx, js, stream, filter) {
		var ev wire.Event
		if err := json.Unmarshal(d, &ev); err != nil {
			t.Fatalf("event %q is not JSON: %v", d, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// CheckKVWrittenOnce checks that no key of bucket was ever written twice:
// the bucket's stream holds every message it was ever sent (Msgs equals
// LastSeq, which a second write to a key of a history-1 bucket would break)
// and one message per key. It returns the keys.
func CheckKVWrittenOnce(t testing.TB, ctx context.Context, js jetstream.JetStream, bucket string) []string {
	t.Helper()
	stream := "KV_" + bucket
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	if got, want := info.State.Msgs, info.State.LastSeq; got != want {
		t.Errorf("%s: got %d messages for %d writes, want one message per write (a key was written twice)", stream, got, want)
	}
	prefix := "$KV." + bucket + "."
	counts := SubjectCounts(t, ctx, js, stream, prefix+">")
	keys := make([]string, 0, len(counts))
	for subj, n := range counts {
		if n != 1 {
			t.Errorf("%s: key %s has %d messages, want 1", stream, subj[len(prefix):], n)
		}
		keys = append(keys, subj[len(prefix):])
	}
	return keys
}

// WaitPullers waits until consumer of stream has at least n pull requests
// waiting, that is until n workers are ready to take its messages.
func WaitPullers(t testing.TB, ctx context.Context, js jetstream.JetStream, stream, consumer string, n int) {
	t.Helper()
	for {
		c, err := js.Consumer(ctx, stream, consumer)
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(ctx); err == nil && info.NumWaiting >= n {
				return
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && ctx.Err() == nil {
			t.Logf("consumer %s: %v", consumer, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s: fewer than %d pull requests waiting: %v", consumer, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ResultKeys keeps the step result keys ("<id>.<seq>") of a steps bucket's
// keys, leaving out history batches ("<id>.h.<n>") and breaker claims.
func ResultKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		// <id>[.<inc>][.x<n>].<seq>; history batches end in h.<n>, takeover
		// claims in o.<n>, breaker claims in a.<seq>.<attempt>, retry
		// records in r.<seq>.<attempt>.
		tok := strings.Split(k, ".")
		n := len(tok)
		if n < 2 || tok[n-2] == "h" || tok[n-2] == "o" || n >= 4 && (tok[n-3] == "a" || tok[n-3] == "r") {
			continue
		}
		if _, err := strconv.Atoi(tok[n-1]); err == nil {
			out = append(out, k)
		}
	}
	return out
}
