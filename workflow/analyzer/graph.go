package analyzer

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"
)

// A node is a function body of the package: a declared function or method,
// or a function literal. Workflow code is every node reached from a root (a
// function with a workflow.Context parameter) through static references to
// the package's functions and through the literals written inside it.
type node struct {
	name string
	// owner is the declaration the node is written in: itself for a
	// declaration or a package-level literal.
	owner *node
	obj   *types.Func // nil for a literal
	// bound is the variable a literal is assigned to where it is written.
	bound *types.Var
	root  bool

	findings []finding
	ranges   []*mapRange
	refs     []*types.Func // functions of this package it calls or refers to
	lits     []*node       // literals written in it that run as its code
	edges    []*node       // refs resolved to nodes, and lits

	// schedules: the node records decisions in the run's history, itself
	// or through what it calls.
	schedules bool
	// from is the root the node was reached from; nil if it is not
	// workflow code.
	from *node
}

// A finding is a construct that is not deterministic in workflow code.
type finding struct {
	pos       token.Pos
	what, fix string
}

// A mapRange is a range over a map; it is reported when its body schedules.
type mapRange struct {
	pos       token.Pos
	direct    bool // its body calls a scheduling API or a function known to schedule
	refs      []*types.Func
	lits      []*node
	schedules bool
}

// builder walks a package's files once and builds its nodes.
type builder struct {
	pass  *analysis.Pass
	nodes []*node
	decls map[*types.Func]*node

	cur    *node       // the node being walked; nil outside any function
	ranges []*mapRange // the map ranges whose body is being walked
	// detached holds the function literals and identifiers passed to
	// workflow.SideEffect or steps.New: they run outside the workflow's
	// replay, so they are not workflow code. detachedVars holds the
	// variables passed there, whose literals are not either.
	detached     map[ast.Node]bool
	detachedVars map[*types.Var]bool
	litNames     map[*ast.FuncLit]string
	litVars      map[*ast.FuncLit]*types.Var
	// selPos maps the selected identifier of a qualified name or selector
	// (the Now of time.Now) to where the expression starts.
	selPos map[*ast.Ident]token.Pos
}

func newBuilder(pass *analysis.Pass) *builder {
	return &builder{
		pass:         pass,
		decls:        make(map[*types.Func]*node),
		detached:     make(map[ast.Node]bool),
		detachedVars: make(map[*types.Var]bool),
		litNames:     make(map[*ast.FuncLit]string),
		litVars:      make(map[*ast.FuncLit]*types.Var),
		selPos:       make(map[*ast.Ident]token.Pos),
	}
}

func (b *builder) walk(n ast.Node) { ast.Inspect(n, b.visit) }

func (b *builder) visit(n ast.Node) bool {
	info := b.pass.TypesInfo
	switch n := n.(type) {
	case *ast.FuncDecl:
		obj, _ := info.Defs[n.Name].(*types.Func)
		if obj == nil || n.Body == nil {
			return false
		}
		nd := &node{name: funcName(obj, b.pass.Pkg), obj: obj, root: takesContext(obj.Signature())}
		nd.owner = nd
		b.decls[obj] = nd
		b.enter(nd, n.Body, false)
		return false
	case *ast.FuncLit:
		sig, _ := info.TypeOf(n).(*types.Signature)
		nd := &node{name: b.litName(n), bound: b.litVars[n], root: sig != nil && takesContext(sig)}
		detached := b.detached[n]
		nd.owner = nd
		if b.cur != nil {
			nd.owner = b.cur.owner
			if !detached {
				b.cur.lits = append(b.cur.lits, nd)
				for _, r := range b.ranges {
					r.lits = append(r.lits, nd)
				}
			}
		}
		b.enter(nd, n.Body, detached)
		return false
	case *ast.ValueSpec:
		for i, v := range n.Values {
			if i < len(n.Names) {
				b.nameLits(v, n.Names[i].Name)
				b.bind(n.Names[i], v)
			}
		}
	case *ast.AssignStmt:
		if len(n.Lhs) == len(n.Rhs) {
			for i, v := range n.Rhs {
				if id, ok := n.Lhs[i].(*ast.Ident); ok {
					b.bind(id, v)
				}
			}
		}
	case *ast.GoStmt:
		b.find(n.Go, "go statement", fixGo)
	case *ast.SelectStmt:
		b.find(n.Select, "select statement", fixSelect)
	case *ast.RangeStmt:
		if b.cur == nil || !b.overMap(n.X) {
			return true
		}
		for _, e := range []ast.Expr{n.Key, n.Value, n.X} {
			if e != nil {
				b.walk(e)
			}
		}
		r := &mapRange{pos: n.For}
		b.cur.ranges = append(b.cur.ranges, r)
		b.ranges = append(b.ranges, r)
		b.walk(n.Body)
		b.ranges = b.ranges[:len(b.ranges)-1]
		return false
	case *ast.SelectorExpr:
		b.selPos[n.Sel] = n.Pos()
	case *ast.CallExpr:
		b.call(n)
	case *ast.Ident:
		b.use(n)
	}
	return true
}

// enter walks the body of nd. A detached literal starts with no enclosing
// map range: what it calls does not run in the loop's workflow code.
func (b *builder) enter(nd *node, body *ast.BlockStmt, detached bool) {
	b.nodes = append(b.nodes, nd)
	cur, ranges := b.cur, b.ranges
	b.cur = nd
	if detached {
		b.ranges = nil
	}
	b.walk(body)
	b.cur, b.ranges = cur, ranges
}

func (b *builder) find(pos token.Pos, what, fix string) {
	if b.cur != nil {
		b.cur.findings = append(b.cur.findings, finding{pos: pos, what: what, fix: fix})
	}
}

// scheduled notes that the code being walked records a decision.
func (b *builder) scheduled() {
	if b.cur != nil {
		b.cur.schedules = true
	}
	for _, r := range b.ranges {
		r.direct = true
	}
}

// call handles the jetflow calls whose function arguments are not workflow
// code (SideEffect, steps.New) and those that record decisions.
func (b *builder) call(call *ast.CallExpr) {
	fn := typeutil.StaticCallee(b.pass.TypesInfo, call)
	if fn == nil || fn.Pkg() == nil {
		return
	}
	switch fn.Pkg().Path() {
	case workflowPkg:
		if schedules(fn) {
			b.scheduled()
		}
		switch fn.Name() {
		case "SideEffect":
			b.detach(call.Args)
		case "New":
			if len(call.Args) == 2 {
				if tv, ok := b.pass.TypesInfo.Types[call.Args[0]]; ok && tv.Value != nil && tv.Value.Kind() == constant.String {
					b.nameLits(call.Args[1], "workflow "+tv.Value.ExactString())
				}
			}
		}
	case stepsPkg:
		if fn.Name() == "New" {
			b.detach(call.Args)
		}
	}
}

func (b *builder) detach(args []ast.Expr) {
	for _, a := range args {
		switch a := ast.Unparen(a).(type) {
		case *ast.FuncLit:
			b.detached[a] = true
		case *ast.Ident:
			b.detached[a] = true
			if v, ok := b.pass.TypesInfo.Uses[a].(*types.Var); ok {
				b.detachedVars[v] = true
			}
		case *ast.SelectorExpr:
			b.detached[a.Sel] = true
		}
	}
}

// use handles an identifier of workflow code that denotes a function or a
// variable: a construct of the standard library, a function of this package
// (an edge), or one of another package that facts describe.
func (b *builder) use(id *ast.Ident) {
	if b.cur == nil || b.detached[id] {
		return
	}
	obj := b.pass.TypesInfo.Uses[id]
	pos := id.Pos()
	if p, ok := b.selPos[id]; ok {
		pos = p
	}
	switch obj := obj.(type) {
	case *types.Var:
		if what, fix, ok := stdlib(obj); ok {
			b.find(pos, what, fix)
		}
	case *types.Func:
		fn := obj.Origin()
		if fn.Pkg() == nil {
			return
		}
		if fn.Pkg() == b.pass.Pkg {
			b.cur.refs = append(b.cur.refs, fn)
			for _, r := range b.ranges {
				r.refs = append(r.refs, fn)
			}
			return
		}
		if what, fix, ok := stdlib(fn); ok {
			b.find(pos, what, fix)
			return
		}
		if engine[fn.Pkg().Path()] {
			return
		}
		if b.pass.ImportObjectFact(fn, new(schedulesFact)) {
			b.scheduled()
		}
		var nd nondeterministicFact
		if b.pass.ImportObjectFact(fn, &nd) && b.sameModule(nd.Module) {
			what := fmt.Sprintf("%s (which reaches %s at %s)", funcName(fn, b.pass.Pkg), nd.What, nd.At)
			b.find(pos, what, nd.Fix)
		}
	}
}

// sameModule reports whether a function of module mod is followed: only
// functions of the module being checked are.
func (b *builder) sameModule(mod string) bool {
	return mod != "" && b.pass.Module != nil && b.pass.Module.Path == mod
}

// overMap reports whether a range over x iterates in map order: a map, or
// maps.Keys, maps.Values or maps.All of one.
func (b *builder) overMap(x ast.Expr) bool {
	if t := b.pass.TypesInfo.TypeOf(x); t != nil {
		if _, ok := t.Underlying().(*types.Map); ok {
			return true
		}
	}
	if call, ok := ast.Unparen(x).(*ast.CallExpr); ok {
		if fn := typeutil.StaticCallee(b.pass.TypesInfo, call); fn != nil && fn.Pkg() != nil && fn.Pkg().Path() == "maps" {
			switch fn.Name() {
			case "Keys", "Values", "All":
				return true
			}
		}
	}
	return false
}

// bind notes the variable id that a function literal e is assigned to.
func (b *builder) bind(id *ast.Ident, e ast.Expr) {
	lit, ok := ast.Unparen(e).(*ast.FuncLit)
	if !ok {
		return
	}
	obj := b.pass.TypesInfo.Defs[id]
	if obj == nil {
		obj = b.pass.TypesInfo.Uses[id]
	}
	if v, ok := obj.(*types.Var); ok {
		b.litVars[lit] = v
	}
}

// nameLits names the function literal that e is, or that e passes
// directly, for messages that say where a helper was called from.
func (b *builder) nameLits(e ast.Expr, name string) {
	switch e := ast.Unparen(e).(type) {
	case *ast.FuncLit:
		if _, ok := b.litNames[e]; !ok {
			b.litNames[e] = name
		}
	case *ast.CallExpr:
		for _, a := range e.Args {
			if lit, ok := ast.Unparen(a).(*ast.FuncLit); ok {
				if _, ok := b.litNames[lit]; !ok {
					b.litNames[lit] = name
				}
			}
		}
	}
}

func (b *builder) litName(lit *ast.FuncLit) string {
	if n, ok := b.litNames[lit]; ok {
		return n
	}
	p := b.pass.Fset.Position(lit.Pos())
	return fmt.Sprintf("the func literal at line %d", p.Line)
}

// link resolves references to edges — leaving out the literals assigned
// to a variable that is passed to SideEffect — then computes which nodes
// schedule (a fixed point over the edges) and which map ranges do.
func (b *builder) link() {
	attached := func(l *node) bool { return l.bound == nil || !b.detachedVars[l.bound] }
	for _, n := range b.nodes {
		for _, fn := range n.refs {
			if to := b.decls[fn]; to != nil {
				n.edges = append(n.edges, to)
			}
		}
		for _, l := range n.lits {
			if attached(l) {
				n.edges = append(n.edges, l)
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, n := range b.nodes {
			if n.schedules {
				continue
			}
			for _, to := range n.edges {
				if to.schedules {
					n.schedules, changed = true, true
					break
				}
			}
		}
	}
	for _, n := range b.nodes {
		for _, r := range n.ranges {
			r.schedules = r.direct
			for _, fn := range r.refs {
				if to := b.decls[fn]; to != nil && to.schedules {
					r.schedules = true
				}
			}
			for _, l := range r.lits {
				if l.schedules && attached(l) {
					r.schedules = true
				}
			}
		}
	}
}

// reach marks the workflow code: every node reached from a root.
func (b *builder) reach() {
	var queue []*node
	for _, n := range b.nodes {
		if n.root {
			n.from = n
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, to := range n.edges {
			if to.from == nil {
				to.from = n.from
				queue = append(queue, to)
			}
		}
	}
}

// funcName names fn as code in package from writes it: helper,
// pricing.Quote, (*pricing.Quoter).Quote.
func funcName(fn *types.Func, from *types.Package) string {
	qual := func(p *types.Package) string {
		if p == from {
			return ""
		}
		return p.Name()
	}
	if recv := fn.Signature().Recv(); recv != nil {
		return "(" + types.TypeString(recv.Type(), qual) + ")." + fn.Name()
	}
	if fn.Pkg() == from {
		return fn.Name()
	}
	return fn.Pkg().Name() + "." + fn.Name()
}
