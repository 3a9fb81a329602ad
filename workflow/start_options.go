package workflow

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
)

// IDReusePolicy says whether Start may give the ID of a closed run to a
// new run. Whatever the policy:
//
//   - an ID with no run starts a new run;
//   - an ID whose run is open (pending or running) is that run's: a Start of
//     the same workflow with the same input returns it and starts nothing
//     (Start is idempotent, so a caller may retry it), any other Start gets
//     an *AlreadyStartedError.
//
// The policy decides for an ID whose run is closed (completed, failed,
// compensation_failed, canceled, terminated) and still recorded, that is
// until the retention (WithRetention) purges it. When it lets a new run take
// the ID, the new run replaces the closed one's record at once, with one
// revision-checked write (two Starts racing for it start one run), under a
// fresh incarnation: its results, history and signals live under keys of
// their own, so nothing of the closed run is mistaken for the new run's.
// The closed run is gone from Describe, Result, History and list; the rest
// of its data (step results, history) is purged when its own retention
// ends, and its status events, which share the ID's subjects, when the new
// run's retention ends or the event stream's limits drop them. With
// retention off (WithRetention(0)) nothing purges them.
type IDReusePolicy int

const (
	// RejectDuplicate, the default: an ID names one run. Starting it again
	// with the same workflow and input returns the recorded run, open or
	// closed, and starts nothing; anything else gets an
	// *AlreadyStartedError.
	RejectDuplicate IDReusePolicy = iota
	// AllowDuplicateFailedOnly lets a new run take the ID of a closed run
	// that did not complete (failed, compensation_failed, canceled,
	// terminated), whatever the input, as a retry of it; a completed run's
	// ID is kept as under RejectDuplicate.
	AllowDuplicateFailedOnly
	// AllowDuplicate lets a new run take the ID of any closed run,
	// whatever its workflow and input. A Start retried after its run
	// closed then starts another run.
	AllowDuplicate
)

func (p IDReusePolicy) String() string {
	switch p {
	case RejectDuplicate:
		return "RejectDuplicate"
	case AllowDuplicateFailedOnly:
		return "AllowDuplicateFailedOnly"
	case AllowDuplicate:
		return "AllowDuplicate"
	}
	return fmt.Sprintf("IDReusePolicy(%d)", int(p))
}

// reuses reports whether the policy lets a new run take the ID of a closed
// run that ended with status.
func (p IDReusePolicy) reuses(status string) bool {
	switch p {
	case AllowDuplicate:
		return true
	case AllowDuplicateFailedOnly:
		return status != kv.StatusCompleted
	}
	return false
}

// StartOption configures one Start (Start, StartRaw, SignalWithStart).
// Options that refuse their value return an error wrapping
// ErrInvalidOption.
type StartOption func(*startConfig) error

type startConfig struct {
	reuse IDReusePolicy
	// schedule is the schedule starting the run (see fromSchedule).
	schedule string
}

func buildStartConfig(opts []StartOption) (startConfig, error) {
	var sc startConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&sc); err != nil {
			return sc, err
		}
	}
	return sc, nil
}

// WithIDReusePolicy sets what Start does with the ID of a closed run
// (default RejectDuplicate).
func WithIDReusePolicy(p IDReusePolicy) StartOption {
	return func(sc *startConfig) error {
		if p < RejectDuplicate || p > AllowDuplicate {
			return invalid("ID reuse policy %d: want RejectDuplicate, AllowDuplicateFailedOnly or AllowDuplicate", int(p))
		}
		sc.reuse = p
		return nil
	}
}

// fromSchedule marks a run started by schedule id: its record names the
// schedule, and its end wakes the schedule (for the ticks that wait on it).
func fromSchedule(id string) StartOption {
	return func(sc *startConfig) error { sc.schedule = id; return nil }
}
