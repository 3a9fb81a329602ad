package analyzer

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// api parses the non-test files of the package in dir and returns the
// signature of each exported function and method, keyed "Name" or
// "Type.Name".
func api(t *testing.T, dir string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			key := fd.Name.Name
			if fd.Recv != nil {
				key = recvName(fd.Recv.List[0].Type) + "." + key
			}
			var buf bytes.Buffer
			if err := printer.Fprint(&buf, fset, &ast.FuncDecl{Recv: fd.Recv, Name: fd.Name, Type: fd.Type}); err != nil {
				t.Fatal(err)
			}
			out[key] = buf.String()
		}
	}
	return out
}

func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// The fixtures' copy of jetflow's API must keep the real signatures, or the
// golden tests would check the analyzer against an API users do not have.
func TestFixtureAPIMatchesJetflow(t *testing.T) {
	for _, pkg := range []string{"workflow", "steps"} {
		real := api(t, filepath.Join("..", "..", pkg))
		for key, sig := range api(t, filepath.Join("testdata", "jetflow", pkg)) {
			got, ok := real[key]
			switch {
			case !ok:
				t.Errorf("the fixtures declare %s.%s, which jetflow does not have", pkg, key)
			case got != sig:
				t.Errorf("%s.%s: fixture has\n\t%s\njetflow has\n\t%s", pkg, key, sig, got)
			}
		}
	}
}

// What the analyzer knows of package workflow — the calls that record
// nothing, the replacements its messages name — must exist there.
func TestNamesExistInWorkflow(t *testing.T) {
	real := api(t, filepath.Join("..", "..", "workflow"))
	for key := range notScheduling {
		if _, ok := real[key]; !ok {
			t.Errorf("notScheduling lists %s, which package workflow does not have", key)
		}
	}
	fixes := []string{fixIO, fixRand, fixTimer, fixTicker, fixGo, fixSelect, fixMapLoop}
	for _, r := range pkgRules {
		fixes = append(fixes, r.fix)
		for _, f := range r.funcs {
			fixes = append(fixes, f)
		}
	}
	named := regexp.MustCompile(`workflow\.([A-Z]\w*)`)
	for _, fix := range fixes {
		for _, m := range named.FindAllStringSubmatch(fix, -1) {
			if _, ok := real[m[1]]; !ok {
				t.Errorf("a message names workflow.%s, which does not exist: %q", m[1], fix)
			}
		}
	}
}
