package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/netaddr"
)

// ErrInsecureListen is returned by Serve for an address beyond loopback
// (an empty host binds every interface) without a bearer token and without
// AllowInsecure.
var ErrInsecureListen = errors.New("metrics: refusing to serve on a non-loopback address without authentication")

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	token    string
	insecure bool
}

// WithBearerToken makes /metrics answer only requests that carry
// "Authorization: Bearer <token>" (Prometheus: authorization.credentials_file
// in the scrape config); others get 401. An empty token is no token.
func WithBearerToken(token string) ServeOption {
	return func(c *serveConfig) { c.token = token }
}

// AllowInsecure lets Serve listen beyond loopback with no token.
func AllowInsecure() ServeOption {
	return func(c *serveConfig) { c.insecure = true }
}

// Serve serves /metrics on addr until ctx ends and returns the address it
// listens on (addr may ask for port 0). Like every port of jetflow, an
// address beyond loopback needs authentication: WithBearerToken, or
// AllowInsecure; otherwise Serve returns ErrInsecureListen and listens on
// nothing.
func (m *Metrics) Serve(ctx context.Context, addr string, opts ...ServeOption) (net.Addr, error) {
	cfg, err := check(addr, opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	var h http.Handler = m.Handler()
	if cfg.token != "" {
		h = requireBearer(cfg.token, h)
	}
	mux.Handle("/metrics", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/metrics", http.StatusFound)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = ln.Close()
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return ln.Addr(), nil
}

// CheckAddr returns the error Serve would return for addr and opts before
// listening (ErrInsecureListen, or a malformed address), so that a command
// can refuse a bad flag before it does anything else.
func CheckAddr(addr string, opts ...ServeOption) error {
	_, err := check(addr, opts)
	return err
}

func check(addr string, opts []ServeOption) (serveConfig, error) {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	host, err := netaddr.HostOf(addr)
	if err != nil {
		return cfg, fmt.Errorf("metrics: address %q: %w", addr, err)
	}
	if !netaddr.IsLoopback(host) && cfg.token == "" && !cfg.insecure {
		return cfg, fmt.Errorf("%w (%s)", ErrInsecureListen, netaddr.Describe(host))
	}
	return cfg, nil
}

// requireBearer passes on requests that carry the token, compared in
// constant time.
func requireBearer(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jetflow metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
