package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/internal/netaddr"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/workflow"
)

//go:embed assets
var assets embed.FS

// Config is what a Server reads from and how it may act. Client and Env are
// required; the zero value of every other field is a documented default.
type Config struct {
	// Client reads runs, histories, breakers and schedules, and carries
	// out the actions.
	Client *workflow.Client
	// Env is the namespace's connection: the event stream (attempt times,
	// breaker transitions) and the live subjects.
	Env *wire.Env
	// Token, when set, is required on every request: a bearer token, or the
	// cookie that opening the page once with ?token= sets. Required for an
	// address beyond loopback.
	Token string
	// AllowActions turns on the forms that change state. Off, they are
	// not shown and their endpoints answer 403.
	AllowActions bool
	// PageSize is the runs list's default page size (default 50).
	PageSize int
	// InputJSON and OutputJSON turn a run's or step's stored payload into
	// JSON for people (default: a generic decoding of the payload
	// encoding, maps in their stored order).
	InputJSON, OutputJSON func(name string, data []byte) (json.RawMessage, error)
	// Timeout bounds each read a page makes (default 10s).
	Timeout time.Duration
	// Log receives what the page cannot show (default: slog.Default).
	Log *slog.Logger
}

// Server serves the page. It is safe for concurrent use.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
	// frags are the fragments live updates swap in.
	frags *template.Template
	mux   *http.ServeMux
	// loopbackOnly makes the server refuse a Host header that does not name
	// loopback when there is no token (DNS rebinding would otherwise let a
	// web site read the page through the browser).
	loopbackOnly bool
}

// New checks cfg and builds the page's handlers.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil || cfg.Env == nil {
		return nil, errors.New("ui: Config.Client and Config.Env are required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	generic := func(_ string, data []byte) (json.RawMessage, error) { return jsonpayload.ToJSON(data) }
	if cfg.InputJSON == nil {
		cfg.InputJSON = generic
	}
	if cfg.OutputJSON == nil {
		cfg.OutputJSON = generic
	}
	s := &Server{cfg: cfg, pages: map[string]*template.Template{}}
	base, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/fragments.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parsing templates: %w", err)
	}
	s.frags = base
	for _, p := range []string{"runs", "run", "breakers", "schedules", "error"} {
		t, err := template.Must(base.Clone()).ParseFS(assets, "assets/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parsing %s.html: %w", p, err)
		}
		s.pages[p] = t
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.runs)
	m.HandleFunc("GET /runs/{id}", s.run)
	m.HandleFunc("GET /runs/{id}/live", s.runLive)
	m.HandleFunc("GET /breakers", s.breakers)
	m.HandleFunc("GET /breakers/table", s.breakersTable)
	m.HandleFunc("GET /schedules", s.schedules)
	m.HandleFunc("GET /events/runs", s.runsEvents)
	m.HandleFunc("GET /events/runs/{id}", s.runEvents)
	m.HandleFunc("GET /events/breakers", s.breakerEvents)
	m.HandleFunc("POST /runs/{id}/{action}", s.runAction)
	m.HandleFunc("POST /breakers/{name}/reset", s.resetBreaker)
	m.HandleFunc("POST /schedules/{id}/{action}", s.scheduleAction)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	s.mux = m
}

// Handler is the page with its guards: the token, the Host check, refusal
// of cross-origin form posts, and headers that keep a browser from running
// anything but the page's own script.
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	var h http.Handler = cop.Handler(s.mux)
	h = s.requireToken(h)
	h = s.checkHost(h)
	return secureHeaders(h)
}

// Serve serves the page on addr until ctx ends and returns the address it
// listens on (addr may ask for port 0). An address beyond loopback without
// Config.Token gives ErrInsecureListen and listens on nothing.
func (s *Server) Serve(ctx context.Context, addr string) (net.Addr, error) {
	if err := CheckAddr(addr, s.cfg.Token); err != nil {
		return nil, err
	}
	host, _ := netaddr.HostOf(addr)
	s.loopbackOnly = s.cfg.Token == "" && netaddr.IsLoopback(host)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ui: listening on %s: %w", addr, err)
	}
	// No write timeout: the live pages hold their event streams open.
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Warn("ui: serving", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close() // the event streams do not end on their own
	})
	return ln.Addr(), nil
}

// CheckAddr returns the error Serve would return for addr and token before
// listening (ErrInsecureListen, or a malformed address), so that a command
// can refuse a bad flag before it connects to anything.
func CheckAddr(addr, token string) error {
	host, err := netaddr.HostOf(addr)
	if err != nil {
		return fmt.Errorf("ui: address %q: %w", addr, err)
	}
	if !netaddr.IsLoopback(host) && token == "" {
		return fmt.Errorf("%w (%s)", ErrInsecureListen, netaddr.Describe(host))
	}
	return nil
}

// ctx bounds one page's reads.
func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.Timeout)
}

// render writes a page; a template that fails half-way has written part of
// the page already, so the failure is logged, not sent.
func (s *Server) render(w http.ResponseWriter, page string, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, page+".html", data); err != nil {
		s.cfg.Log.Warn("ui: rendering", "page", page, "err", err)
	}
}

func (s *Server) fragment(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.frags.ExecuteTemplate(w, name, data); err != nil {
		s.cfg.Log.Warn("ui: rendering", "fragment", name, "err", err)
	}
}

// fail answers with a page that says what was wrong, escaped like
// everything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.Header.Get("Accept") == "text/event-stream" {
		http.Error(w, msg, status)
		return
	}
	s.render(w, "error", status, errorPage{page: s.page(http.StatusText(status)), Status: status, Message: msg})
}

// page is what every page's layout needs.
type page struct {
	Title   string
	Actions bool
}

func (s *Server) page(title string) page { return page{Title: title, Actions: s.cfg.AllowActions} }

type errorPage struct {
	page
	Status  int
	Message string
}
