package metrics

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// Beyond loopback, Serve needs a token or AllowInsecure; it refuses before
// listening, so nothing here binds anything but loopback.
func TestServeRefusesOpenAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "10.1.2.3:0", "example.com:0"} {
		if _, err := New("w").Serve(ctx, addr); !errors.Is(err, ErrInsecureListen) {
			t.Errorf("Serve(%q): got %v, want ErrInsecureListen", addr, err)
		}
		if err := CheckAddr(addr, WithBearerToken("t")); err != nil {
			t.Errorf("CheckAddr(%q) with a token: %v", addr, err)
		}
		if err := CheckAddr(addr, AllowInsecure()); err != nil {
			t.Errorf("CheckAddr(%q) with AllowInsecure: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if err := CheckAddr(addr); err != nil {
			t.Errorf("CheckAddr(%q): %v", addr, err)
		}
	}
}

func TestServeBearerToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := New("w").Serve(ctx, "127.0.0.1:0", WithBearerToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic s3cret", http.StatusUnauthorized},
		{"Bearer s3cret", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: got %d, want %d", tc.header, resp.StatusCode, tc.want)
		}
	}
}
