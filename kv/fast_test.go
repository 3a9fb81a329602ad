package kv_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
)

// The fast path keeps the KV layer's meaning: create-only, revision-checked
// updates, a create over a deleted key, invalid keys refused, and errors a
// caller can tell apart.
func TestFastWritesKeepKVSemantics(t *testing.T) {
	srv := testenv.StartBare(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 20*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kv.Open(ctx, js, kv.Config{Prefix: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	plain := b.Steps
	b.Fast(nc)
	if b.Steps == plain {
		t.Fatal("Fast left the bucket as it was")
	}
	rev, err := kv.Create(ctx, b.Steps, "r1.1", kv.Result{Name: "a"})
	if err != nil || rev == 0 {
		t.Fatalf("create: %d, %v", rev, err)
	}
	before := nc.Stats().OutMsgs
	if _, err := kv.Create(ctx, b.Steps, "r1.1", kv.Result{Name: "b"}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	if n := nc.Stats().OutMsgs - before; n != 2 {
		t.Errorf("a create over an existing key took %d requests; want 2 (the write, one read of the entry)", n)
	}
	got, grev, err := kv.Get[kv.Result](ctx, plain, "r1.1")
	if err != nil || got.Name != "a" || grev != rev {
		t.Fatalf("read back: %+v at %d, %v; want a at %d", got, grev, err, rev)
	}
	if _, err := kv.Update(ctx, b.Steps, "r1.1", kv.Result{Name: "c"}, rev+100); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("update at a wrong revision: got %v, want ErrConflict", err)
	}
	nrev, err := kv.Update(ctx, b.Steps, "r1.1", kv.Result{Name: "c"}, rev)
	if err != nil || nrev <= rev {
		t.Fatalf("update: %d, %v", nrev, err)
	}
	// A deleted or purged key leaves a marker; a create over it succeeds,
	// as the KV layer's does.
	for _, m := range []struct {
		how  string
		mark func() error
	}{
		{"deleted", func() error { return b.Steps.Delete(ctx, "r1.1") }},
		{"purged", func() error { return b.Steps.Purge(ctx, "r1.1") }},
	} {
		if err := m.mark(); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Create(ctx, b.Steps, "r1.1", kv.Result{Name: m.how}); err != nil {
			t.Fatalf("create over a %s key: %v", m.how, err)
		}
		if got, _, _ := kv.Get[kv.Result](ctx, plain, "r1.1"); got.Name != m.how {
			t.Fatalf("after the create over the %s key: got %+v, want %s", m.how, got, m.how)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a b", "a*", "a>"} {
		if _, err := kv.Create(ctx, b.Steps, bad, kv.Result{}); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Errorf("create %q: got %v, want ErrInvalidKey", bad, err)
		}
	}
	// A write the stream refuses for another reason says why.
	big := make([]byte, nc.MaxPayload()+1)
	if _, err := kv.Create(ctx, b.Steps, "r1.2", kv.Result{Output: big}); err == nil || errors.Is(err, kv.ErrExists) {
		t.Fatalf("create over max_payload: got %v, want a publish error", err)
	}
}
