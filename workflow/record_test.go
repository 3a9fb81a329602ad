package workflow

import (
	"testing"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// The public copies of engine values stay equal to them.
func TestPublicValuesMatchTheEngine(t *testing.T) {
	for _, s := range Statuses {
		if s.Closed() != kv.Terminal(string(s)) {
			t.Errorf("%s: Closed %v, engine says %v", s, s.Closed(), kv.Terminal(string(s)))
		}
	}
	if MaxIDLength != kv.MaxIDLength {
		t.Error("MaxIDLength differs from the engine's")
	}
	if DefaultEventsMaxAge != wire.DefaultEventsMaxAge || DefaultEventsMaxBytes != wire.DefaultEventsMaxBytes ||
		DefaultDeadLetterMaxAge != wire.DefaultDeadLetterMaxAge || DefaultDeadLetterMaxBytes != wire.DefaultDeadLetterMaxBytes {
		t.Error("stream limit defaults differ from the engine's")
	}
	for _, s := range []string{kv.StatusPending, kv.StatusRunning, kv.StatusCompleted, kv.StatusFailed, kv.StatusCompensationFailed, kv.StatusCanceled, kv.StatusTerminated} {
		found := false
		for _, p := range Statuses {
			found = found || string(p) == s
		}
		if !found {
			t.Errorf("engine status %s has no public Status", s)
		}
	}
}
