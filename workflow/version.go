package workflow

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// Version is the version of the code a run took at a change point (see
// GetVersion).
type Version int

// DefaultVersion is the version of a run that passed a change point before
// the code had one: the code as it was.
const DefaultVersion Version = -1

// GetVersion lets workflow code change while runs are in flight. Put it
// where the code changes, and keep the old path for the versions still
// running:
//
//	v := workflow.GetVersion(ctx, "verify-address", workflow.DefaultVersion, 1)
//	if v == 1 {
//		if _, err := workflow.ExecuteStep(ctx, VerifyAddress, in).Get(ctx); err != nil { ... }
//	}
//
// A run that reaches the call with the new code records maxSupported in its
// history (a "version" position) and gets it on every replay. A run that
// passed this point under the old code has no such record: on replay it
// gets DefaultVersion and takes the old path, as it did. Once no run that
// took a version is open any more (their retention is the bound), raise
// minSupported and remove that branch; a run with a version outside
// [minSupported, maxSupported] fails with a *VersionError rather than
// taking a path it never took. Calls with the same changeID in one run
// return the same version; changeID must be a valid name (letters, digits,
// '-' and '_').
func GetVersion(ctx Context, changeID string, minSupported, maxSupported Version) Version {
	e := ctx.state().e
	if v, ok := e.versions[changeID]; ok {
		return e.supported(changeID, v, minSupported, maxSupported)
	}
	if !steps.ValidName(changeID) {
		e.fail(&VersionError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, ChangeID: changeID, Min: minSupported, Max: maxSupported,
			problem: "the change ID is not a valid name (letters, digits, '-' and '_')"})
	}
	if minSupported > maxSupported {
		e.fail(&VersionError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, ChangeID: changeID, Min: minSupported, Max: maxSupported,
			problem: "minSupported is above maxSupported"})
	}
	v := DefaultVersion
	switch {
	case e.matched < len(e.recorded):
		// Replaying: the run recorded a version here only if it passed
		// this point with code that asked.
		if d := e.recorded[e.matched]; d.Kind == kv.KindVersion && d.Name == changeID {
			_, rec := e.claim(kv.KindVersion, changeID)
			if err := kv.Unmarshal(rec.Value, &v); err != nil {
				e.fail(fmt.Errorf("%w: the version at position %d of %s: %v", kv.ErrCorrupt, rec.Seq, e.run.ID, err))
			}
		}
	default:
		seq, _ := e.claim(kv.KindVersion, changeID)
		v = maxSupported
		value, err := kv.Marshal(v)
		if err != nil {
			e.fail(err)
		}
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindVersion, Name: changeID, Value: value})
	}
	if e.versions == nil {
		e.versions = map[string]Version{}
	}
	e.versions[changeID] = v
	return e.supported(changeID, v, minSupported, maxSupported)
}

// Patched reports whether the run takes the new path of the change
// changeID: true for runs that reach it with the new code, false for runs
// that passed it before. It is GetVersion(ctx, changeID, DefaultVersion, 1)
// == 1.
func Patched(ctx Context, changeID string) bool {
	return GetVersion(ctx, changeID, DefaultVersion, 1) == 1
}

// supported returns v, or fails the run when the code no longer supports it.
// A version above maxSupported was taken by newer code than this worker's:
// the task is left to a worker that has it (see codeBehindError).
func (e *execution) supported(changeID string, v, minSupported, maxSupported Version) Version {
	if v > maxSupported {
		e.fail(&codeBehindError{WorkflowID: e.run.ID, ChangeID: changeID, Version: v, Max: maxSupported})
	}
	if v < minSupported {
		e.fail(&VersionError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, ChangeID: changeID, Version: v, Min: minSupported, Max: maxSupported})
	}
	return v
}

// VersionError is a run whose recorded version of a change the code no
// longer supports (or a GetVersion call that cannot be answered): the run
// fails instead of taking a path it never took.
type VersionError struct {
	Workflow   string
	WorkflowID string
	ChangeID   string
	Version    Version
	Min, Max   Version
	problem    string
}

func (e *VersionError) Error() string {
	if e.problem != "" {
		return fmt.Sprintf("jetflow: GetVersion(%q, %d, %d) in workflow %s (run %s): %s", e.ChangeID, e.Min, e.Max, e.Workflow, e.WorkflowID, e.problem)
	}
	return fmt.Sprintf("jetflow: workflow %s (run %s) took version %d of change %q, and the code supports %d to %d only",
		e.Workflow, e.WorkflowID, e.Version, e.ChangeID, e.Min, e.Max)
}

// TypeUnsupportedVersion is the error type of a run that failed with a
// *VersionError.
const TypeUnsupportedVersion = "UnsupportedVersion"

// codeBehindError is a run whose history was made by newer code than this
// worker's: it took a version of a change this code does not know (a
// rollback, or an old worker still up during a rolling deployment). The
// run is not failed: the task fails and is retried, with backoff, until a
// worker with the newer code takes it.
type codeBehindError struct {
	WorkflowID string
	ChangeID   string
	Seq        int
	Version    Version
	Max        Version
}

func (e *codeBehindError) Error() string {
	if e.Seq > 0 {
		return fmt.Sprintf("jetflow: run %s recorded change %q at position %d, which this worker's code does not make: its code is older than the run's; leaving the run to a worker with newer code",
			e.WorkflowID, e.ChangeID, e.Seq)
	}
	return fmt.Sprintf("jetflow: run %s took version %d of change %q and this worker's code knows versions up to %d: its code is older than the run's; leaving the run to a worker with newer code",
		e.WorkflowID, e.Version, e.ChangeID, e.Max)
}
