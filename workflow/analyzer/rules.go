package analyzer

import "go/types"

// The jetflow packages whose API is the deterministic boundary: the
// analyzer knows which calls of package workflow record decisions, and
// never looks inside the engine's packages (engine), whose own code reads
// the clock and does I/O on behalf of workflow code.
const (
	workflowPkg = "github.com/jetflow-dev/jetflow/workflow"
	stepsPkg    = "github.com/jetflow-dev/jetflow/steps"
)

var engine = set(workflowPkg, stepsPkg, workflowPkg+"/workflowtest")

// The replacements the diagnostics name.
const (
	fixIO      = "do I/O in a step (steps.New) and run it with workflow.ExecuteStep"
	fixRand    = "draw random values inside workflow.SideEffect(ctx, func() T {...}), which records them for replay"
	fixTimer   = "use workflow.NewTimer(ctx, d), a durable timer (Get it, or wait for it beside other futures with workflow.NewSelector)"
	fixTicker  = "use workflow.Sleep(ctx, d) or workflow.NewTimer(ctx, d) in a loop (and workflow.ContinueAsNew if it never ends)"
	fixGo      = "start steps with workflow.ExecuteStep, which returns a future at once, and Get them (they run in parallel), or wait for the first with workflow.NewSelector"
	fixSelect  = "use workflow.NewSelector(ctx), whose choice is recorded and replayed"
	fixMapLoop = "map order changes from one replay to the next; range over slices.Sorted(maps.Keys(m)) instead"
)

// pkgRule says which package-level functions and variables of a standard
// package are not deterministic in workflow code, and what to use instead.
type pkgRule struct {
	fix string
	// funcs, when set, lists the only flagged functions, each with its own
	// replacement; otherwise every package-level function is flagged but
	// those in pure.
	funcs map[string]string
	pure  map[string]bool
	// vars lists the package-level variables that are I/O handles or
	// sources of randomness.
	vars map[string]bool
	// types lists the types whose methods do I/O.
	types map[string]bool
}

var pkgRules = map[string]pkgRule{
	"time": {funcs: map[string]string{
		"Now":       "use workflow.Now(ctx), the run's deterministic clock",
		"Since":     "use workflow.Now(ctx).Sub(t)",
		"Until":     "use t.Sub(workflow.Now(ctx))",
		"Sleep":     "use workflow.Sleep(ctx, d), a durable timer",
		"After":     fixTimer,
		"AfterFunc": fixTimer,
		"NewTimer":  fixTimer,
		"Tick":      fixTicker,
		"NewTicker": fixTicker,
	}},
	// The constructors take an explicit source or seed: a generator seeded
	// from a SideEffect replays the same numbers.
	"math/rand":    {fix: fixRand, pure: set("New", "NewSource", "NewZipf")},
	"math/rand/v2": {fix: fixRand, pure: set("New", "NewPCG", "NewChaCha8", "NewZipf")},
	"crypto/rand":  {fix: fixRand, vars: set("Reader")},
	"os": {fix: fixIO,
		pure:  set("IsExist", "IsNotExist", "IsPermission", "IsTimeout", "IsPathSeparator", "NewSyscallError", "Expand", "SameFile"),
		vars:  set("Args", "Stdin", "Stdout", "Stderr"),
		types: set("File", "Process", "Root")},
	"os/exec": {fix: fixIO, types: set("Cmd")},
	"net": {fix: fixIO,
		pure:  set("ParseIP", "ParseCIDR", "ParseMAC", "IPv4", "IPv4Mask", "CIDRMask", "JoinHostPort", "SplitHostPort"),
		vars:  set("DefaultResolver"),
		types: set("Dialer", "ListenConfig", "Resolver", "Conn", "PacketConn", "Listener", "conn", "TCPConn", "UDPConn", "UnixConn", "IPConn", "TCPListener", "UnixListener", "Interface")},
	"net/http": {fix: fixIO,
		pure: set("NewRequest", "NewRequestWithContext", "StatusText", "CanonicalHeaderKey", "ParseHTTPVersion",
			"ParseTime", "DetectContentType", "ParseCookie", "ParseSetCookie"),
		vars:  set("DefaultClient", "DefaultTransport"),
		types: set("Client", "Transport", "Server", "RoundTripper")},
	"database/sql": {fix: fixIO, pure: set("Named"), types: set("DB", "Tx", "Conn", "Stmt", "Rows", "Row")},
}

// stdlib reports whether obj, a function, method or variable of a standard
// package, is not deterministic in workflow code: what it is ("time.Now")
// and what to use instead.
func stdlib(obj types.Object) (what, fix string, ok bool) {
	if obj.Pkg() == nil {
		return "", "", false
	}
	path := obj.Pkg().Path()
	r, found := pkgRules[path]
	if !found {
		return "", "", false
	}
	name := obj.Name()
	switch obj := obj.(type) {
	case *types.Func:
		if recv := obj.Signature().Recv(); recv != nil {
			tn := typeName(recv.Type())
			if r.types[tn] {
				return path + "." + tn + "." + name, r.fix, true
			}
			return "", "", false
		}
		if r.funcs != nil {
			fix, ok := r.funcs[name]
			return path + "." + name, fix, ok
		}
		if r.pure[name] {
			return "", "", false
		}
		return path + "." + name, r.fix, true
	case *types.Var:
		if obj.Parent() == obj.Pkg().Scope() && r.vars[name] {
			return path + "." + name, r.fix, true
		}
	}
	return "", "", false
}

// notScheduling lists the calls of package workflow that take a Context but
// record nothing in the run's history, so calling them in map order is
// harmless. Every other workflow call that takes a Context (and
// AddCompensation) records a decision whose position must not depend on map
// order — new API included, until it is listed here.
var notScheduling = set("Now", "Logger", "GetLogger", "GetInfo", "StepOptions", "WithStepOptions",
	"NewSelector", "NewSaga", "Future.Get", "Selector.Select")

// schedules reports whether fn, a function or method of package workflow,
// records a decision in the run's history (a step, a timer, a side effect,
// a compensation...).
func schedules(fn *types.Func) bool {
	key := fn.Name()
	if recv := fn.Signature().Recv(); recv != nil {
		key = typeName(recv.Type()) + "." + key
	}
	if key == "AddCompensation" {
		return true
	}
	return takesContext(fn.Signature()) && !notScheduling[key]
}

// takesContext reports whether a function of signature sig has a
// workflow.Context parameter: it is workflow code.
func takesContext(sig *types.Signature) bool {
	params := sig.Params()
	for i := range params.Len() {
		if named, ok := types.Unalias(params.At(i).Type()).(*types.Named); ok {
			obj := named.Obj()
			if obj.Name() == "Context" && obj.Pkg() != nil && obj.Pkg().Path() == workflowPkg {
				return true
			}
		}
	}
	return false
}

// typeName is the name of a method receiver's type, without pointer or
// type arguments.
func typeName(t types.Type) string {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if named, ok := types.Unalias(t).(*types.Named); ok {
		return named.Obj().Name()
	}
	return ""
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
