package embedded_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestListensOnLoopbackByDefault(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), RandomPort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	addr, ok := srv.NATS().Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("no TCP listener: %v", srv.NATS().Addr())
	}
	if !addr.IP.IsLoopback() {
		t.Fatalf("listening on %v, want a loopback address", addr)
	}
}

func TestRefusesNonLoopbackWithoutAuth(t *testing.T) {
	_, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), Host: "0.0.0.0", RandomPort: true})
	if !errors.Is(err, embedded.ErrInsecureListen) {
		t.Fatalf("got %v, want ErrInsecureListen", err)
	}
}

func TestTokenRefusesUnauthenticatedClients(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), RandomPort: true, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without the token connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Logf("refused with: %v", err)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("client with the token: %v", err)
	}
	nc.Close()
}

func TestNoListenerAndRestartOnSameStore(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), DontListen: true, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if srv.ClientURL() != "" {
		t.Fatalf("DontListen server has a client URL %q", srv.ClientURL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put := func() {
		nc, err := srv.Connect()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	put()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("after restart: got %v, %v; want v", e, err)
	}
}
