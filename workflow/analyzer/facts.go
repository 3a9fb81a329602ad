package analyzer

import (
	"fmt"
	"path/filepath"
	"slices"
)

// nondeterministicFact marks an exported function that is not workflow code
// in its own package but reaches a construct that would be reported if it
// were: a workflow of another package of the same module that calls it is
// reported at the call.
type nondeterministicFact struct {
	Module string // module of the function's package
	What   string // the construct, "time.Now"
	At     string // where it is, "example.com/shop/pricing/quote.go:14"
	Fix    string
}

func (*nondeterministicFact) AFact() {}

func (f *nondeterministicFact) String() string { return "reaches " + f.What }

// schedulesFact marks an exported function that records decisions in a
// run's history, itself or through what it calls: a map range of another
// package that calls it is reported.
type schedulesFact struct{}

func (*schedulesFact) AFact() {}

func (*schedulesFact) String() string { return "schedules" }

// exportFacts describes the package's exported functions for the packages
// that import it. Functions that are workflow code here have their
// constructs reported here, so no fact repeats them.
func exportFacts(b *builder, allowed directives) {
	mod := ""
	if b.pass.Module != nil {
		mod = b.pass.Module.Path
	}
	var first map[*node]*finding
	if mod != "" {
		first = firstFindings(b.nodes, allowed)
	}
	for _, n := range b.nodes {
		if n.obj == nil || !n.obj.Exported() {
			continue
		}
		if n.schedules {
			b.pass.ExportObjectFact(n.obj, new(schedulesFact))
		}
		if f := first[n]; f != nil {
			p := b.pass.Fset.Position(f.pos)
			at := fmt.Sprintf("%s/%s:%d", b.pass.Pkg.Path(), filepath.Base(p.Filename), p.Line)
			b.pass.ExportObjectFact(n.obj, &nondeterministicFact{Module: mod, What: f.what, At: at, Fix: f.fix})
		}
	}
}

// firstFindings maps each node that is not workflow code to the first
// construct it reaches through code that is not workflow code either: its
// own, or else that of the first of its callees that reaches one (a fixed
// point, so that recursion needs no special case).
func firstFindings(nodes []*node, allowed directives) map[*node]*finding {
	first := make(map[*node]*finding)
	for _, n := range nodes {
		if own := ownFindings(n, allowed); n.from == nil && len(own) > 0 {
			first[n] = &own[0]
		}
	}
	for changed := true; changed; {
		changed = false
		for _, n := range nodes {
			if n.from != nil || first[n] != nil {
				continue
			}
			for _, to := range n.edges {
				if f := first[to]; f != nil {
					first[n], changed = f, true
					break
				}
			}
		}
	}
	return first
}

// ownFindings lists what n itself would have reported, map ranges
// included, in source order, without what a directive allows.
func ownFindings(n *node, allowed directives) []finding {
	var out []finding
	for _, f := range n.findings {
		if !allowed.covers(f.pos) {
			out = append(out, f)
		}
	}
	for _, r := range n.ranges {
		if r.schedules && !allowed.covers(r.pos) {
			out = append(out, finding{pos: r.pos, what: "range over a map that schedules steps or timers", fix: fixMapLoop})
		}
	}
	slices.SortFunc(out, func(a, b finding) int { return int(a.pos - b.pos) })
	return out
}
