package analyzer_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/jetflow-dev/jetflow/workflow/analyzer"
)

// The fixtures are a module of their own (testdata/go.mod) that uses a
// copy of jetflow's API, a helper package of the same module (pricing) and
// a module of someone else's (thirdparty): the want comments in them are
// the expected diagnostics and facts.
func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), analyzer.Analyzer, "./orders", "./pricing")
}
