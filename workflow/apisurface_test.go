package workflow_test

import (
	"os/exec"
	"regexp"
	"testing"
)

// The public API ends at workflow, steps and embedded: nothing a user reads
// in their documentation names the engine's storage or internal packages
// (issue "Your own workflows in production", acceptance 1).
func TestPublicAPIMentionsNoInternalType(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go doc")
	}
	internal := regexp.MustCompile(`\b(kv|wire|runner|testenv|metrics|demo|kit)\.[A-Z]`)
	for _, pkg := range []string{"github.com/jetflow-dev/jetflow/workflow", "github.com/jetflow-dev/jetflow/workflow/workflowtest", "github.com/jetflow-dev/jetflow/steps", "github.com/jetflow-dev/jetflow/embedded"} {
		out, err := exec.Command("go", "doc", "-all", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go doc %s: %v\n%s", pkg, err, out)
		}
		for _, m := range internal.FindAllIndex(out, -1) {
			lo := max(m[0]-80, 0)
			t.Errorf("%s: its documentation names an internal type: ...%s...", pkg, out[lo:min(m[1]+40, len(out))])
		}
	}
}
