package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/jetflow-dev/jetflow/workflow"
)

// FuzzValidateID checks that every ID ValidateID accepts is safe as a NATS
// subject token and a KV key, and that every refusal is a typed error.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"order-1001", "", "a.b", "a*", "a>", "a b", "ünï", strings.Repeat("x", 257), "A_b-c=9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := workflow.ValidateID(id)
		if err != nil {
			var ie *workflow.InvalidIDError
			if !errors.Is(err, workflow.ErrInvalidID) || !errors.As(err, &ie) {
				t.Fatalf("ValidateID(%q): untyped error %v", id, err)
			}
			return
		}
		if id == "" || len(id) > workflow.MaxIDLength {
			t.Fatalf("accepted %q of length %d", id, len(id))
		}
		if strings.ContainsAny(id, ".*>") || strings.IndexFunc(id, unicode.IsSpace) >= 0 {
			t.Fatalf("accepted %q, which breaks subjects", id)
		}
		for _, r := range id {
			if r > unicode.MaxASCII {
				t.Fatalf("accepted non-ASCII %q", id)
			}
		}
	})
}
