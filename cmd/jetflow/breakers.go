package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "breakers", summary: "list the shared circuit breakers; breakers reset NAME closes one", run: runBreakers})
}

type breakerJSON struct {
	Name             string     `json:"name"`
	State            string     `json:"state"`
	Failures         int        `json:"failures"`
	Successes        int        `json:"successes"`
	Opens            int        `json:"opens"`
	Probes           int        `json:"probes"`
	OpenedAt         *time.Time `json:"opened_at"`
	OpenUntil        *time.Time `json:"open_until"`
	UpdatedAt        *time.Time `json:"updated_at"`
	UpdatedBy        string     `json:"updated_by,omitempty"`
	FailureThreshold int        `json:"failure_threshold,omitempty"`
	ResetTimeoutMS   float64    `json:"reset_timeout_ms,omitempty"`
	HalfOpenMaxCalls int        `json:"half_open_max_calls,omitempty"`
	SuccessThreshold int        `json:"success_threshold,omitempty"`
	// The failure-rate policy and its window, when the breaker has one.
	FailureRateThreshold float64 `json:"failure_rate_threshold,omitempty"`
	MinimumCalls         int     `json:"minimum_calls,omitempty"`
	WindowMS             float64 `json:"window_ms,omitempty"`
	WindowCalls          int     `json:"window_calls,omitempty"`
	WindowFailures       int     `json:"window_failures,omitempty"`
	Generation           uint64  `json:"generation"`
	Corrupt              bool    `json:"corrupt,omitempty"`
}

func runBreakers(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("breakers", os.Stderr)
	f.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	reset := ""
	switch {
	case len(pos) == 0:
	case pos[0] == "reset":
		if err := wantArgs(pos[1:], 1, 1, "breaker name: jetflow breakers reset NAME"); err != nil {
			return err
		}
		reset = pos[1]
		if !steps.ValidName(reset) {
			return usagef("breaker name %q: letters, digits, '-' and '_' only", reset)
		}
	default:
		return usagef("unexpected argument %q: jetflow breakers [reset NAME]", pos[0])
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	if reset != "" {
		err := s.client.ResetBreaker(cctx, reset)
		if errors.Is(err, workflow.ErrBreakerNotFound) {
			return &exitError{code: 1, msg: fmt.Sprintf("no circuit breaker named %q (a breaker appears once a step guarded by it has run)", reset)}
		}
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(os.Stdout, map[string]string{"name": reset, "state": "closed", "reason": "reset"})
		}
		fmt.Printf("circuit breaker %s reset to closed\n", reset)
		return nil
	}

	bs, err := s.client.Breakers(cctx)
	if err != nil {
		return err
	}
	if f.json {
		out := make([]breakerJSON, 0, len(bs))
		for _, b := range bs {
			out = append(out, breakerJSON{
				Name: b.Name, State: b.State, Failures: b.Failures, Successes: b.Successes, Opens: b.Opens, Probes: b.Probes,
				OpenedAt: optTime(b.OpenedAt), OpenUntil: optTime(b.OpenUntil), UpdatedAt: optTime(b.UpdatedAt), UpdatedBy: b.UpdatedBy,
				FailureThreshold: b.Policy.FailureThreshold, ResetTimeoutMS: ms(b.Policy.ResetTimeout),
				HalfOpenMaxCalls: b.Policy.HalfOpenMaxCalls, SuccessThreshold: b.Policy.SuccessThreshold,
				FailureRateThreshold: b.Policy.FailureRateThreshold, MinimumCalls: b.Policy.MinimumCalls, WindowMS: ms(b.Policy.Window),
				WindowCalls: b.WindowCalls, WindowFailures: b.WindowFailures, Generation: b.Generation, Corrupt: b.Corrupt,
			})
		}
		return printJSON(os.Stdout, out)
	}
	if len(bs) == 0 {
		fmt.Println("no circuit breaker has a record yet (one appears when a step it guards first fails with a retryable error)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tFAILURES\tOPENS\tPROBES\tOPEN UNTIL\tUPDATED\tBY")
	for _, b := range bs {
		state := b.State
		if b.Corrupt {
			state += " (unreadable record)"
		}
		until := "-"
		if b.State != "closed" && !b.OpenUntil.IsZero() {
			until = stamp(b.OpenUntil)
		}
		fails := fmt.Sprint(b.Failures)
		if b.Policy.FailureThreshold > 0 {
			fails += fmt.Sprintf("/%d", b.Policy.FailureThreshold)
		}
		if b.Policy.FailureRateThreshold > 0 {
			// The rate rule: failures of the calls in the window, and the
			// share that opens it.
			fails = fmt.Sprintf("%d of %d in %s (opens at %g%% of %d+)", b.WindowFailures, b.WindowCalls, b.Policy.Window,
				100*b.Policy.FailureRateThreshold, b.Policy.MinimumCalls)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", b.Name, state, fails, b.Opens, b.Probes, until, stamp(b.UpdatedAt), b.UpdatedBy)
	}
	return tw.Flush()
}
