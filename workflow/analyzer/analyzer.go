package analyzer

import (
	"fmt"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports what is not deterministic in jetflow workflow code.
var Analyzer = &analysis.Analyzer{
	Name: "determinism",
	Doc: `report code that is not deterministic in jetflow workflows

A jetflow run may be rebuilt by replaying its workflow code against its
history, so that code must make the same decisions in the same order every
time. In workflow code — functions with a workflow.Context parameter, such as
those passed to workflow.New, and the functions of the same module they call —
this analyzer reports the clock and Go timers (time.Now, time.Sleep,
time.After...), go and select statements, ranges over a map whose body
schedules steps or timers, math/rand and crypto/rand, and I/O (os, os/exec,
net, net/http, database/sql), each with the jetflow replacement. Step
handlers and functions passed to workflow.SideEffect are not workflow code.

A line comment "//jetflow:nondeterministic-ok <reason>" allows what would be
reported on its line, or on the next line when it stands alone.`,
	URL:       "https://github.com/jetflow-dev/jetflow#checking-workflow-code-for-determinism",
	Run:       run,
	FactTypes: []analysis.Fact{new(nondeterministicFact), new(schedulesFact)},
}

func run(pass *analysis.Pass) (any, error) {
	if engine[pass.Pkg.Path()] {
		return nil, nil
	}
	allowed := readDirectives(pass)
	b := newBuilder(pass)
	for _, f := range pass.Files {
		b.walk(f)
	}
	b.link()
	b.reach()
	for _, n := range b.nodes {
		if n.from == nil {
			continue
		}
		where := ""
		if n.owner != n.from.owner {
			where = fmt.Sprintf(" (%s, called from %s)", n.owner.name, n.from.name)
		}
		for _, f := range ownFindings(n, allowed) {
			pass.Reportf(f.pos, "%s in workflow code%s: %s", f.what, where, f.fix)
		}
	}
	exportFacts(b, allowed)
	return nil, nil
}
