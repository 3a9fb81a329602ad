package analyzer

import (
	"go/token"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/analysis"
)

// Directive is the escape hatch: a line comment that starts with it and
// gives a reason allows what the analyzer would report on that line, or on
// the next line when the comment stands alone on its own:
//
//	deadline := time.Now().Add(d) //jetflow:nondeterministic-ok only logged, never decides
const Directive = "//jetflow:nondeterministic-ok"

// directives holds, per file, the lines on which findings are allowed.
type directives struct {
	fset  *token.FileSet
	lines map[string]map[int]bool
}

// readDirectives collects the package's directives and reports those that
// give no reason: they allow nothing.
func readDirectives(pass *analysis.Pass) directives {
	d := directives{fset: pass.Fset, lines: make(map[string]map[int]bool)}
	for _, f := range pass.Files {
		tf := pass.Fset.File(f.FileStart)
		if tf == nil {
			continue
		}
		var src []byte
		read := false
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				rest, ok := strings.CutPrefix(c.Text, Directive)
				if !ok {
					continue
				}
				if r, _ := utf8.DecodeRuneInString(rest); rest != "" && !unicode.IsSpace(r) {
					continue // another word: //jetflow:nondeterministic-okay
				}
				if strings.TrimSpace(rest) == "" {
					pass.Reportf(c.Pos(), "%s needs a reason (why this line replays the same), and allows nothing without one", Directive)
					continue
				}
				if !read && pass.ReadFile != nil {
					src, _ = pass.ReadFile(tf.Name())
					read = true
				}
				line := tf.Line(c.Pos())
				m := d.lines[tf.Name()]
				if m == nil {
					m = make(map[int]bool)
					d.lines[tf.Name()] = m
				}
				m[line] = true
				if ownLine(src, tf, c.Pos(), line) {
					m[line+1] = true
				}
			}
		}
	}
	return d
}

// ownLine reports whether only blanks precede the comment at pos on its
// line. Without the source it says yes, so that both lines are allowed.
func ownLine(src []byte, tf *token.File, pos token.Pos, line int) bool {
	start, end := tf.Offset(tf.LineStart(line)), tf.Offset(pos)
	if src == nil || end > len(src) {
		return true
	}
	return strings.TrimSpace(string(src[start:end])) == ""
}

// covers reports whether a directive allows a finding at pos.
func (d directives) covers(pos token.Pos) bool {
	p := d.fset.PositionFor(pos, false)
	return d.lines[p.Filename][p.Line]
}
