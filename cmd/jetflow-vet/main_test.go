package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fixtures is the analyzer's fixture module: its want comments say which
// lines are reported.
var fixtures = filepath.Join("..", "..", "workflow", "analyzer", "testdata")

// The command finds, through go vet and on its own, every diagnostic the
// fixtures expect — those found through facts across packages included,
// which need the module information go vet hands its tool.
func TestJetflowVet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and vets a module")
	}
	bin := filepath.Join(t.TempDir(), "jetflow-vet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := expected(t)
	for _, tc := range []struct {
		name   string
		args   []string
		status int
	}{
		{"go vet", []string{"go", "vet", "-vettool=" + bin, "./..."}, 1},
		{"standalone", []string{bin, "./..."}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.args[0], tc.args[1:]...)
			cmd.Dir = fixtures
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.status {
				t.Fatalf("%s: got %v, want exit status %d\n%s", strings.Join(tc.args, " "), err, tc.status, out)
			}
			got := reported(t, string(out))
			if !slices.Equal(got, want) {
				t.Errorf("reported lines differ from the fixtures' want comments\ngot  %q\nwant %q\n%s", got, want, out)
			}
		})
	}
}

var (
	wantComment = regexp.MustCompile("// want (\\+(\\d+) )?(`[^`]*`( `[^`]*`)*)")
	pattern     = regexp.MustCompile("`[^`]*`")
	diagnostic  = regexp.MustCompile(`([a-z]+/[a-z_]+\.go):(\d+):\d+: `)
)

// expected lists "file:line" once per diagnostic the want comments of the
// fixtures expect, sorted.
func expected(t *testing.T) []string {
	t.Helper()
	var out []string
	files, err := filepath.Glob(filepath.Join(fixtures, "*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rel := filepath.ToSlash(strings.TrimPrefix(name, fixtures+string(filepath.Separator)))
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			m := wantComment.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			at := line
			if m[2] != "" {
				delta, _ := strconv.Atoi(m[2])
				at += delta
			}
			for range pattern.FindAllString(m[3], -1) {
				out = append(out, rel+":"+strconv.Itoa(at))
			}
		}
		f.Close()
	}
	slices.Sort(out)
	if len(out) < 40 {
		t.Fatalf("found %d expected diagnostics in %s: the fixtures moved?", len(out), fixtures)
	}
	return out
}

// reported lists "file:line" once per diagnostic in the output, sorted.
func reported(t *testing.T, output string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(output, "\n") {
		if m := diagnostic.FindStringSubmatch(line); m != nil {
			out = append(out, m[1]+":"+m[2])
		}
	}
	slices.Sort(out)
	return out
}
