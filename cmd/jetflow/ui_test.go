package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestUIRefusesAnOpenAddressWithoutAToken: beyond loopback the page needs a
// token, refused before anything connects (exit status 2) with a message
// that names the fix.
func TestUIRefusesAnOpenAddressWithoutAToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		// Nothing listens on port 1: the refusal comes before any connection.
		err := serveUI(context.Background(), []string{"--listen", listen, "--nats", "nats://127.0.0.1:1"}, io.Discard, nil)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Fatalf("ui --listen %s: %v, want a usage error (exit status 2)", listen, err)
		}
		for _, want := range []string{"--ui-token-file", "JETFLOW_UI_TOKEN", "127.0.0.1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ui --listen %s: %q does not name %s", listen, err, want)
			}
		}
	}
	if code := run([]string{"ui", "--listen", "0.0.0.0:0", "--nats", "nats://127.0.0.1:1"}); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if code := run([]string{"ui", "--page-size", "0"}); code != 2 {
		t.Errorf("--page-size 0: exit status %d, want 2", code)
	}
}
