package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	shared "github.com/jetflow-dev/jetflow/internal/cli"
	"github.com/jetflow-dev/jetflow/internal/ui"
)

func init() {
	register(command{name: "ui", summary: "serve a web page of runs, timelines, breakers and schedules, live: ui [--listen 127.0.0.1:PORT] [--allow-actions]", run: runUI})
}

// uiFlags are `jetflow ui`'s own flags beside the client's.
type uiFlags struct {
	client   clientFlags
	listen   string
	token    secret
	actions  bool
	pageSize int
}

func (f *uiFlags) register(fs *flag.FlagSet) {
	f.client.register(fs)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8282", "serve the page on this address (host:port; port 0 takes a free one); beyond loopback it needs --ui-token-file")
	// --token and --token-file are the NATS token's (natsFlags): the page's
	// own token has names of its own.
	f.token = shared.Secret{FileFlag: "--ui-token-file", Env: "JETFLOW_UI_TOKEN"}
	fs.StringVar(&f.token.File, "ui-token-file", "", "require this token (read from the file; or $JETFLOW_UI_TOKEN) on every request: open the page once as /?token=TOKEN, or send Authorization: Bearer TOKEN")
	fs.BoolVar(&f.actions, "allow-actions", false, "show and allow the actions that change state: cancel, terminate, signal, breaker reset, schedule pause/unpause/trigger")
	fs.IntVar(&f.pageSize, "page-size", 50, "runs per page of the runs list")
}

func runUI(ctx context.Context, args []string) error {
	return serveUI(ctx, args, os.Stdout, nil)
}

// serveUI is `jetflow ui`; ready, when set, is told the address once the
// page is served (tests).
func serveUI(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	var f uiFlags
	fs := newFlagSet("ui", os.Stderr)
	f.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if f.pageSize < 1 || f.pageSize > 1000 {
		return usagef("--page-size %d: want 1 to 1000", f.pageSize)
	}
	token, err := f.token.Resolve()
	if err != nil {
		return err
	}
	// Refused before connecting, like every other bad flag.
	if err := ui.CheckAddr(f.listen, token); errors.Is(err, ui.ErrInsecureListen) {
		return usagef("refusing to serve the web page on %s without a token.\n"+
			"Keep --listen on loopback (127.0.0.1:PORT; reach it from elsewhere through an SSH tunnel), "+
			"or set --ui-token-file (or $JETFLOW_UI_TOKEN) and open the page once as http://HOST:PORT/?token=TOKEN.", f.listen)
	} else if err != nil {
		return usagef("--listen: %v", err)
	}
	s, err := f.client.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	srv, err := ui.New(ui.Config{Client: s.client, Env: s.env, Token: token, AllowActions: f.actions, PageSize: f.pageSize,
		InputJSON: inputJSON, OutputJSON: outputJSON, Timeout: f.client.timeout,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	addr, err := srv.Serve(ctx, f.listen)
	if err != nil {
		return usagef("--listen: %v", err)
	}
	mode := "read-only (--allow-actions to allow cancel, terminate, signal, reset, pause, trigger)"
	if f.actions {
		mode = "actions allowed"
	}
	fmt.Fprintf(stdout, "jetflow ui: http://%s/ on NATS at %s, %s\n", addr, s.nc.ConnectedUrlRedacted(), mode)
	if token != "" {
		fmt.Fprintf(stdout, "open http://%s/?token=TOKEN once (the token of --ui-token-file or $JETFLOW_UI_TOKEN); the page keeps it in a cookie\n", addr)
	}
	if ready != nil {
		ready(addr)
	}
	<-ctx.Done()
	return nil
}
