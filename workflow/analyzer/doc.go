// Package analyzer is a go/analysis analyzer that finds code that is not
// deterministic in jetflow workflows, before a deployment finds it as a
// *workflow.NonDeterminismError.
//
// A run may be rebuilt by replaying its workflow code against its history,
// so the code must make the same decisions in the same order every time.
// Workflow code is every function with a workflow.Context parameter (those
// passed to workflow.New among them) and what it reaches through static
// calls: the functions of its own package, followed to their bodies, and
// the exported functions of other packages of the same module, described by
// analysis facts. In it the analyzer reports, each with the jetflow
// replacement:
//
//   - the clock and Go timers: time.Now, Since, Until, Sleep, After,
//     AfterFunc, Tick, NewTimer, NewTicker (workflow.Now, workflow.Sleep,
//     workflow.NewTimer);
//   - go statements and select statements (workflow.ExecuteStep futures,
//     workflow.NewSelector);
//   - a range over a map, or over maps.Keys, maps.Values or maps.All, whose
//     body schedules steps or timers — calls workflow.ExecuteStep,
//     NewTimer, Sleep, SideEffect, AddCompensation, or a function that does
//     (range over sorted keys);
//   - math/rand, math/rand/v2 and crypto/rand (workflow.SideEffect);
//   - I/O through os, os/exec, net, net/http and database/sql (a step).
//
// Not workflow code: step handlers (functions passed to steps.New, taking a
// context.Context), functions passed to workflow.SideEffect, and code that
// no workflow reaches. Calls through interfaces and function values are not
// followed, nor are calls into other modules.
//
// A line comment that starts with Directive and gives a reason allows what
// would be reported on its line, or on the next line when the comment stands
// alone:
//
//	//jetflow:nondeterministic-ok the deadline is only logged
//	deadline := time.Now().Add(time.Minute)
//
// Run it with the jetflow-vet command, standalone or through go vet:
//
//	go install github.com/jetflow-dev/jetflow/cmd/jetflow-vet
//	jetflow-vet ./...
//	go vet -vettool=$(which jetflow-vet) ./...
package analyzer
