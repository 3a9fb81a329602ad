package ui_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/ui"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The handlers against a real JetStream: runs of two small workflows, one
// whose step fails twice before it succeeds, one that fails and
// compensates, read back through the page.

var (
	quiet = slog.New(slog.DiscardHandler)

	wobbleCalls sync.Map // run ID → attempts so far
	wobble      = steps.New("Wobble", func(ctx context.Context, id string) (string, error) {
		n, _ := wobbleCalls.LoadOrStore(id, new(int))
		*n.(*int)++
		if *n.(*int) <= 2 {
			return "", &steps.Error{Type: "Wobbly", Message: fmt.Sprintf("attempt %d <b>wobbled</b>", *n.(*int))}
		}
		return "steady " + id, nil
	})
	reserve = steps.New("Reserve", func(ctx context.Context, id string) (string, error) { return "r-" + id, nil })
	release = steps.New("Release", func(ctx context.Context, r string) (string, error) { return "released " + r, nil })
	charge  = steps.New("Charge", func(ctx context.Context, id string) (string, error) {
		return "", &steps.Error{Type: "Declined", Message: "card declined", NonRetryable: true}
	})

	retryFast = steps.Options{StartToCloseTimeout: 5 * time.Second,
		RetryPolicy: &steps.RetryPolicy{MaxAttempts: 5, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond, BackoffCoefficient: 2}}

	flaky = workflow.New("Flaky", func(ctx workflow.Context, id string) (string, error) {
		ctx = workflow.WithStepOptions(ctx, retryFast)
		return workflow.ExecuteStep(ctx, wobble, id).Get(ctx)
	})
	doomed = workflow.New("Doomed", func(ctx workflow.Context, id string) (string, error) {
		ctx = workflow.WithStepOptions(ctx, retryFast)
		saga := workflow.NewSaga(ctx)
		r, err := workflow.ExecuteStep(ctx, reserve, id).Get(ctx)
		if err != nil {
			return "", err
		}
		workflow.AddCompensation(saga, release, r)
		if _, err := workflow.ExecuteStep(ctx, charge, id).Get(ctx); err != nil {
			_ = saga.Compensate(ctx)
			return "", err
		}
		return "paid", nil
	})
	hiccup = steps.New("Hiccup", func(ctx context.Context, id string) (string, error) {
		return "", &steps.Error{Type: "Hiccup", Message: "not now"}
	})
	// patient waits an hour between attempts: its step is pending.
	patient = workflow.New("Patient", func(ctx workflow.Context, id string) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 5 * time.Second,
			RetryPolicy: &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Hour, MaxInterval: time.Hour, BackoffCoefficient: 2}})
		return workflow.ExecuteStep(ctx, hiccup, id).Get(ctx)
	})
	sleeper = workflow.New("Sleeper", func(ctx workflow.Context, id string) (string, error) {
		return "", workflow.Sleep(ctx, time.Hour)
	})
)

type fixture struct {
	client *workflow.Client
	env    *wire.Env
	nc     *nats.Conn
}

func setUp(t *testing.T) *fixture {
	t.Helper()
	wobbleCalls.Clear() // run IDs repeat from test to test
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, time.Minute)
	w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{w.RegisterWorkflow(flaky), w.RegisterWorkflow(doomed), w.RegisterWorkflow(sleeper), w.RegisterWorkflow(patient), w.RegisterStep(hiccup), w.RegisterStep(wobble), w.RegisterStep(reserve),
		w.RegisterStep(release), w.RegisterStep(charge)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })
	client, err := workflow.NewClient(ctx, nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	env, err := wire.Bind(ctx, nc, wire.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{client: client, env: env, nc: nc}
}

// page serves the UI of the fixture with cfg's other fields.
func (f *fixture) page(t *testing.T, cfg ui.Config) *httptest.Server {
	t.Helper()
	cfg.Client, cfg.Env, cfg.Log = f.client, f.env, quiet
	s, err := ui.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs
}

// runs starts and waits for runs of def, one per ID.
func runs[O any](t *testing.T, f *fixture, def *workflow.Definition[string, O], ids ...string) {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	for _, id := range ids {
		if _, err := workflow.Start(ctx, f.client, def, id, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := f.client.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// rowIDs are the run IDs of a runs list, in the order shown.
func rowIDs(body string) []string {
	var ids []string
	for _, part := range strings.Split(body, `data-id="`)[1:] {
		ids = append(ids, part[:strings.IndexByte(part, '"')])
	}
	return ids
}

func TestRunsListFiltersAndPages(t *testing.T) {
	f := setUp(t)
	runs(t, f, flaky, "flaky-1", "flaky-2")
	runs(t, f, doomed, "doomed-1")
	hs := f.page(t, ui.Config{})
	c := hs.Client()
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, tc := range []struct {
		name, query string
		want        string
	}{
		{"all, newest first", "", "doomed-1 flaky-2 flaky-1"},
		{"workflow", "workflow=Flaky", "flaky-2 flaky-1"},
		{"status", "status=failed", "doomed-1"},
		{"ID prefix", "prefix=flaky-1", "flaky-1"},
		{"created since", "since=" + future, ""},
		{"created until", "until=" + future + "&workflow=Doomed", "doomed-1"},
		{"page 1 of 2", "n=2", "doomed-1 flaky-2"},
		{"page 2 of 2", "n=2&page=2", "flaky-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, c, hs.URL+"/?"+tc.query)
			if code != http.StatusOK {
				t.Fatalf("GET /?%s: %d\n%s", tc.query, code, body)
			}
			if got := strings.Join(rowIDs(body), " "); got != tc.want {
				t.Errorf("GET /?%s shows %q, want %q", tc.query, got, tc.want)
			}
		})
	}
	_, body := get(t, c, hs.URL+"/?n=2")
	if !strings.Contains(body, `href="/?page=2"`) {
		t.Errorf("page 1 of 2 has no link to page 2:\n%s", body)
	}
}

func TestBadInputIsRefusedAndEscaped(t *testing.T) {
	f := setUp(t)
	hs := f.page(t, ui.Config{})
	c := hs.Client()
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"run ID with a script", "/runs/" + url.PathEscape("<script>alert(1)</script>"), http.StatusBadRequest},
		{"run ID with a dot", "/runs/a.b", http.StatusBadRequest},
		{"run ID too long", "/runs/" + strings.Repeat("x", 300), http.StatusBadRequest},
		{"missing run", "/runs/nobody", http.StatusNotFound},
		{"workflow filter with a script", "/?workflow=" + url.QueryEscape("<script>alert(1)</script>"), http.StatusBadRequest},
		{"unknown status", "/?status=" + url.QueryEscape("<b>done</b>"), http.StatusBadRequest},
		{"bad time", "/?since=yesterday", http.StatusBadRequest},
		{"ID prefix with a space", "/?prefix=a+b", http.StatusBadRequest},
		{"page 0", "/?page=0", http.StatusBadRequest},
		{"page size too large", "/?n=100000", http.StatusBadRequest},
		{"live stream with a bad filter", "/events/runs?status=nope", http.StatusBadRequest},
		{"run stream with a bad ID", "/events/runs/" + url.PathEscape("<x>"), http.StatusBadRequest},
		{"no such page", "/" + url.PathEscape("<script>"), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, c, hs.URL+tc.path)
			if code != tc.want {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, code, tc.want, body)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "<b>done") || strings.Contains(body, "<x>") {
				t.Errorf("GET %s echoes markup unescaped:\n%s", tc.path, body)
			}
		})
	}
	// The message says what was wrong, as text.
	_, body := get(t, c, hs.URL+"/runs/"+url.PathEscape("<script>alert(1)</script>"))
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the 400 page does not show the ID as text:\n%s", body)
	}
}

func TestRunPageShowsAttemptsAndCompensations(t *testing.T) {
	f := setUp(t)
	runs(t, f, flaky, "flaky-1")
	runs(t, f, doomed, "doomed-1")
	hs := f.page(t, ui.Config{})
	c := hs.Client()

	code, body := get(t, c, hs.URL+"/runs/flaky-1")
	if code != http.StatusOK {
		t.Fatalf("GET /runs/flaky-1: %d\n%s", code, body)
	}
	if got, want := outcomes(body, "Wobble"), "failed failed ok"; got != want {
		t.Errorf("Wobble's attempts %q, want %q\n%s", got, want, body)
	}
	// The step's error is shown as text, never as markup.
	if !strings.Contains(body, "attempt 1 &lt;b&gt;wobbled&lt;/b&gt;") || strings.Contains(body, "<b>wobbled") {
		t.Errorf("the failed attempt's error is not shown escaped")
	}
	if !strings.Contains(body, `id="input">&#34;flaky-1&#34;`) || !strings.Contains(body, "steady flaky-1") {
		t.Errorf("input or output missing")
	}

	_, body = get(t, c, hs.URL+"/runs/doomed-1")
	if got, want := outcomes(body, "Charge"), "final"; got != want {
		t.Errorf("Charge's attempts %q, want %q", got, want)
	}
	if !strings.Contains(body, `data-step="Release" data-kind="step" data-compensation="true"`) {
		t.Errorf("the compensation Release is not a compensation lane:\n%s", body)
	}
	if !strings.Contains(body, "Declined") || !strings.Contains(body, "card declined") {
		t.Errorf("the run's failure is not shown")
	}
	// The fragment the page refreshes live is the same part.
	code, frag := get(t, c, hs.URL+"/runs/doomed-1/live")
	if code != http.StatusOK || !strings.Contains(frag, `id="timeline"`) || strings.Contains(frag, "<html") {
		t.Errorf("GET /runs/doomed-1/live: %d, want the timeline alone\n%s", code, frag)
	}
}

func TestRunPageShowsAPendingStep(t *testing.T) {
	f := setUp(t)
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := workflow.Start(ctx, f.client, patient, "patient-1", "patient-1"); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := f.client.Describe(ctx, "patient-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Backoff != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the step never waited for a retry")
		case <-time.After(20 * time.Millisecond):
		}
	}
	hs := f.page(t, ui.Config{})
	_, body := get(t, hs.Client(), hs.URL+"/runs/patient-1")
	for _, want := range []string{`id="pending"`, "Hiccup", "1 attempt(s) so far", "not now", "next attempt at"} {
		if !strings.Contains(body, want) {
			t.Errorf("the pending step's page lacks %q\n%s", want, body)
		}
	}
	if got := outcomes(body, "Hiccup"); got != "failed" {
		t.Errorf("Hiccup's attempts %q, want one failed", got)
	}
	if err := f.client.Terminate(ctx, "patient-1", "test over"); err != nil {
		t.Fatal(err)
	}
}

// outcomes lists the outcomes of a lane's attempt bars, in order.
func outcomes(body, step string) string {
	i := strings.Index(body, `data-step="`+step+`"`)
	if i < 0 {
		return ""
	}
	lane := body[i:]
	if end := strings.Index(lane, "</svg>"); end >= 0 {
		lane = lane[:end]
	}
	var out []string
	for _, part := range strings.Split(lane, `data-outcome="`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return strings.Join(out, " ")
}

func TestTokenIsRequired(t *testing.T) {
	f := setUp(t)
	hs := f.page(t, ui.Config{Token: "s3cret"})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name string
		path string
		hdr  []string
		want int
	}{
		{"no token", "/", nil, http.StatusUnauthorized},
		{"no token, run page", "/runs/x", nil, http.StatusUnauthorized},
		{"no token, static file", "/static/ui.js", nil, http.StatusUnauthorized},
		{"no token, live stream", "/events/runs", nil, http.StatusUnauthorized},
		{"wrong bearer", "/", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"wrong query token", "/?token=nope", nil, http.StatusUnauthorized},
		{"wrong cookie", "/", []string{"Cookie", "jetflow_ui_token=nope"}, http.StatusUnauthorized},
		{"bearer", "/", []string{"Authorization", "Bearer s3cret"}, http.StatusOK},
		{"cookie", "/breakers", []string{"Cookie", "jetflow_ui_token=s3cret"}, http.StatusOK},
		{"query token sets the cookie", "/?token=s3cret&status=failed", nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, noRedirect, hs.URL+tc.path, tc.hdr...)
			if code != tc.want {
				t.Errorf("GET %s: %d, want %d\n%s", tc.path, code, tc.want, body)
			}
			if strings.Contains(body, "s3cret") {
				t.Errorf("GET %s: the answer holds the token", tc.path)
			}
		})
	}
	// A browser: ?token= once, then the cookie; the token leaves the URL.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	res, err := browser.Get(hs.URL + "/?token=s3cret&status=failed")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.RawQuery != "status=failed" {
		t.Errorf("after ?token=: %d at %s, want 200 at /?status=failed", res.StatusCode, res.Request.URL)
	}
	if code, _ := get(t, browser, hs.URL+"/schedules"); code != http.StatusOK {
		t.Errorf("GET /schedules with the cookie: %d, want 200", code)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		insecure    bool
	}{
		{"127.0.0.1:0", "", false},
		{"localhost:8282", "", false},
		{"[::1]:0", "", false},
		{"0.0.0.0:8282", "", true},
		{":8282", "", true},
		{"10.1.2.3:80", "", true},
		{"0.0.0.0:8282", "t", false},
	} {
		err := ui.CheckAddr(tc.addr, tc.token)
		if got := errors.Is(err, ui.ErrInsecureListen); got != tc.insecure {
			t.Errorf("CheckAddr(%q, token %q) = %v, want insecure %v", tc.addr, tc.token, err, tc.insecure)
		}
	}
}

func post(t *testing.T, u string, form url.Values, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestActionsAreOffUnlessAllowed(t *testing.T) {
	f := setUp(t)
	runs(t, f, flaky, "flaky-1")
	readOnly := f.page(t, ui.Config{})
	for _, path := range []string{"/runs/flaky-1/cancel", "/runs/flaky-1/terminate", "/runs/flaky-1/signal", "/breakers/payments/reset",
		"/schedules/nightly/pause", "/schedules/nightly/unpause", "/schedules/nightly/trigger"} {
		if code, body := post(t, readOnly.URL+path, url.Values{"name": {"go"}}); code != http.StatusForbidden {
			t.Errorf("POST %s on a read-only page: %d, want 403\n%s", path, code, body)
		}
	}
	if _, body := get(t, readOnly.Client(), readOnly.URL+"/runs/flaky-1"); strings.Contains(body, `method="post"`) {
		t.Errorf("a read-only page shows action forms")
	}

	rw := f.page(t, ui.Config{AllowActions: true})
	// A form posted from another site is refused even when actions are on.
	if code, _ := post(t, rw.URL+"/runs/flaky-1/cancel", nil, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", code)
	}
	if code, _ := post(t, rw.URL+"/runs/nobody/cancel", nil); code != http.StatusNotFound {
		t.Errorf("cancel of a missing run: %d, want 404", code)
	}
	if code, _ := post(t, rw.URL+"/breakers/nobody/reset", nil); code != http.StatusNotFound {
		t.Errorf("reset of a missing breaker: %d, want 404", code)
	}
	if code, _ := post(t, rw.URL+"/runs/flaky-1/signal", url.Values{"name": {"<x>"}}); code != http.StatusBadRequest {
		t.Errorf("signal with a bad name: %d, want 400", code)
	}
	if code, _ := post(t, rw.URL+"/runs/flaky-1/signal", url.Values{"name": {"go"}, "input": {"{"}}); code != http.StatusBadRequest {
		t.Errorf("signal with bad JSON: %d, want 400", code)
	}
	// A run still going can be canceled from the page.
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := workflow.Start(ctx, f.client, sleeper, "never", "never"); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, rw.URL+"/runs/never/terminate", url.Values{"reason": {"test"}}); code != http.StatusSeeOther {
		t.Fatalf("terminate: %d, want 303\n%s", code, body)
	}
	rec, err := f.client.Wait(ctx, "never")
	if err != nil || rec.Status != workflow.StatusTerminated {
		t.Errorf("after terminate: %v %v, want terminated", rec.Status, err)
	}
	if _, body := get(t, rw.Client(), rw.URL+"/runs/flaky-1"); strings.Contains(body, `action="/runs/flaky-1/cancel"`) {
		t.Errorf("a closed run offers to be canceled")
	}
}

func TestLiveRunsStreamShowsAStart(t *testing.T) {
	f := setUp(t)
	hs := f.page(t, ui.Config{})
	ctx := testenv.Context(t, 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/events/runs?workflow=Flaky", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("GET /events/runs: %d %s", res.StatusCode, ct)
	}
	sc := bufio.NewScanner(res.Body)
	next := func() (event, data string) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data += line[len("data: "):]
			case line == "" && event != "":
				return event, data
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	if ev, _ := next(); ev != "hello" {
		t.Fatalf("first event %q, want hello (the subscription is in place)", ev)
	}
	runs(t, f, doomed, "doomed-live") // another workflow: filtered out
	runs(t, f, flaky, "flaky-live")
	for {
		ev, data := next()
		if ev != "run" {
			continue
		}
		if strings.Contains(data, "doomed-live") {
			t.Fatalf("the stream of Flaky runs sent a Doomed run: %s", data)
		}
		if strings.Contains(data, `id="run-flaky-live"`) {
			break
		}
	}
}

// A run started inside a trace shows its trace ID on its page, to look it
// up in a tracing UI.
func TestRunPageShowsItsTrace(t *testing.T) {
	f := setUp(t)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx := testenv.Context(t, 30*time.Second)
	traced, err := workflow.NewClient(ctx, f.nc, workflow.WithLogger(quiet), workflow.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	sctx, span := tp.Tracer("test").Start(ctx, "checkout")
	_, err = workflow.Start(sctx, traced, flaky, "traced-1", "traced-1")
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Wait(ctx, "traced-1"); err != nil {
		t.Fatal(err)
	}
	hs := f.page(t, ui.Config{})
	code, body := get(t, hs.Client(), hs.URL+"/runs/traced-1")
	want := span.SpanContext().TraceID().String()
	if code != 200 || !strings.Contains(body, `<code id="trace">`+want+`</code>`) {
		t.Fatalf("run page: %d; want trace %s on it:\n%s", code, want, body)
	}
}
