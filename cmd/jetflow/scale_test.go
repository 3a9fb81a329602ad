package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// Acceptance 1: one server process and three worker processes share 300
// orders started through the client; one worker is SIGKILLed mid-run; every
// order still ends as expected, every worker did work, and no step result or
// service effect happened twice.
func TestAcceptanceThreeWorkersOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	// Latency and few slots make the 300 runs take seconds (each step type
	// gets 3 workers x 2 slots / 20ms = 300 attempts/s), so the victim dies
	// with work in flight and runs to go.
	common := []string{"--latency", "20ms", "--concurrency", "2"}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	victim := startWorker(t, url, "w-victim", append(common, "--metrics-addr", metricsAddr)...)
	startWorker(t, url, "w-2", common...)
	startWorker(t, url, "w-3", common...)

	e := connectEngine(t, url)
	ords := orders("a1", 300)
	closed := e.closedRuns(t)
	start := time.Now()
	e.startAll(t, ords)

	// Kill the victim once it did some work, while runs remain.
	deadline := time.Now().Add(30 * time.Second)
	for scrape(t, metricsAddr, "jetflow_step_attempts_total") < 150 {
		if time.Now().After(deadline) {
			t.Fatal("the victim ran no step within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sendSignal(t, victim, syscall.SIGKILL)
	waitExit(t, victim, 10*time.Second)
	done := closed()
	t.Logf("victim killed %s after the start, with %d of 300 runs over", time.Since(start).Round(time.Millisecond), done)
	if done == len(ords) {
		t.Fatal("every run was over before the kill: the test did not kill mid-run")
	}

	e.waitDone(t, ords, 60*time.Second)
	t.Logf("300 runs done in %s", time.Since(start).Round(time.Millisecond))
	e.checkOnce(t, ords)
	byWorker := e.workersOfResults(t)
	for _, w := range []string{"w-victim", "w-2", "w-3"} {
		if byWorker[w] == 0 {
			t.Errorf("worker %s recorded no step result: %v", w, byWorker)
		}
	}
	t.Logf("step results by worker: %v", byWorker)
}
