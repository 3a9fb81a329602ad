package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// Acceptance 3: SIGTERM to a busy worker: it stops taking tasks, lets the
// steps in flight finish (or, past the drain timeout, releases them to
// another worker), exits 0 within its drain timeout, and no step is lost.
func TestAcceptanceSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name    string
		latency time.Duration
		drain   time.Duration
	}{
		// Steps in flight finish within the drain timeout.
		{name: "finish in flight", latency: 400 * time.Millisecond, drain: 3 * time.Second},
		// Steps outlive the drain timeout: released for the other worker.
		{name: "release past timeout", latency: 3 * time.Second, drain: 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := startServer(t)
			metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			busy := startWorker(t, url, "w-busy", "--latency", tc.latency.String(), "--drain-timeout", tc.drain.String(), "--metrics-addr", metricsAddr)

			e := connectEngine(t, url)
			ords := orders("a3", 40)
			e.startAll(t, ords)
			deadline := time.Now().Add(20 * time.Second)
			for scrape(t, metricsAddr, "jetflow_steps_in_flight") < 10 {
				if time.Now().After(deadline) {
					t.Fatal("the worker never had 10 steps in flight")
				}
				time.Sleep(10 * time.Millisecond)
			}
			inFlight := scrape(t, metricsAddr, "jetflow_steps_in_flight")
			sendSignal(t, busy, syscall.SIGTERM)
			code, took := waitExit(t, busy, tc.drain+10*time.Second)
			t.Logf("SIGTERM with %v steps in flight: exit %d after %s (drain timeout %s)", inFlight, code, took.Round(time.Millisecond), tc.drain)
			if code != 0 {
				t.Errorf("exit code %d, want 0:\n%s", code, busy.Output())
			}
			if limit := tc.drain + time.Second; took > limit {
				t.Errorf("exited after %s, want within the drain timeout %s (+1s)", took, tc.drain)
			}
			if tc.latency < tc.drain && took > tc.latency+time.Second {
				t.Errorf("exited after %s though its steps take %s", took, tc.latency)
			}

			// Another worker finishes the runs; nothing is lost or done twice.
			startWorker(t, url, "w-after", "--latency", "1ms")
			e.waitDone(t, ords, 30*time.Second)
			e.checkOnce(t, ords)
		})
	}
}
