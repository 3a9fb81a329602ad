package chaos_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/chaos"
)

// TestChaos runs the order saga and the exercise workflows (long runs that
// continue as new, fan-outs, a selector racing a step against a timer, runs
// fed numbered signals, runs canceled at random points) on a real `jetflow
// server` and three `jetflow worker` processes while it kills
// workers, pauses one past AckWait, kills and restarts the server, and
// publishes poison messages and forged deduplication IDs, then checks that
// nothing was lost, duplicated, left unfinished or stuck.
//
// The short form (at least 100 workflows and 5 faults) always runs;
// JETFLOW_CHAOS=full (`make chaos`) runs at least 1,000 workflows and 30
// faults. JETFLOW_CHAOS_SEED replays a run's orders and fault kinds.
func TestChaos(t *testing.T) {
	cfg := chaos.Short()
	switch mode := os.Getenv("JETFLOW_CHAOS"); mode {
	case "", "short":
	case "full":
		cfg = chaos.Full()
	default:
		t.Fatalf("JETFLOW_CHAOS=%q: want short or full", mode)
	}
	cfg.Seed = uint64(time.Now().UnixNano())
	envUint(t, "JETFLOW_CHAOS_SEED", &cfg.Seed)
	envInt(t, "JETFLOW_CHAOS_WORKFLOWS", &cfg.Workflows)
	envInt(t, "JETFLOW_CHAOS_FAULTS", &cfg.Faults)
	envInt(t, "JETFLOW_CHAOS_SIGNALERS", &cfg.Signalers)
	envInt(t, "JETFLOW_CHAOS_CANCELS", &cfg.Cancels)
	envDuration(t, "JETFLOW_CHAOS_WINDOW", &cfg.Window)
	envDuration(t, "JETFLOW_CHAOS_LATENCY", &cfg.Latency)
	envDuration(t, "JETFLOW_CHAOS_SCHEDULE_CATCHUP", &cfg.ScheduleCatchup)
	cfg.NoSchedule = os.Getenv("JETFLOW_CHAOS_SCHEDULE") == "0"
	// Both on unless turned off: the engine bugs they showed are fixed.
	cfg.CancelStepError = os.Getenv("JETFLOW_CHAOS_CANCEL_STEP_ERROR") != "0"
	cfg.SignalTick = os.Getenv("JETFLOW_CHAOS_SIGNAL_TICK") != "0"
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Window+cfg.FinishTimeout+3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	if keep := os.Getenv("JETFLOW_CHAOS_DIR"); keep != "" {
		// Keep the store and the logs for a post-mortem.
		dir = keep
	}
	bin, err := chaos.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Binary, cfg.Dir = bin, dir
	cfg.Logf = t.Logf
	rep, err := chaos.Run(ctx, cfg)
	if rep != nil {
		// The one line, on stdout so that `make chaos` shows it.
		fmt.Println(rep.Line())
		t.Logf("%s in %s (seed %d; faults %v; runs %v; outcomes %v; sweeper repairs %v, reports %v; steps run again after a rebuild %d; other messages parked %v; signal sends refused before storing and made again %d; canceled runs that completed first %d; cancel runs whose code got the failure of the Mark their cancel halted before the cancel %d)",
			rep.Line(), rep.Duration.Round(time.Millisecond), rep.Seed, rep.FaultsByKind(), rep.ByKind, rep.ByStatus, rep.RepairedBy, rep.Reported, rep.Rebuilt, rep.Parked, rep.SignalsNotStored, rep.CompletedFirst, rep.CancelHaltedFirst)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Workflows < 100 || len(rep.Faults) < 5 {
		t.Errorf("%d workflows and %d faults, want at least 100 and 5", rep.Workflows, len(rep.Faults))
	}
	for _, p := range rep.Problems {
		t.Error(p)
	}
	if !rep.OK() {
		t.Errorf("%s, want 0 lost, 0 duplicated, 0 unfinished, stuck 0 (replay with JETFLOW_CHAOS_SEED=%d)", rep.Line(), rep.Seed)
	}
}

// envUint, envInt and envDuration read an optional override of the run's size.
func envUint(t *testing.T, name string, v *uint64) {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		*v = n
	}
}

func envInt(t *testing.T, name string, v *int) {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		*v = n
	}
}

func envDuration(t *testing.T, name string, v *time.Duration) {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		*v = d
	}
}
