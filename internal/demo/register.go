package demo

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Workflows returns the demo's workflows.
func Workflows() []workflow.Registrable {
	return []workflow.Registrable{OrderOrchestration, PaymentWithFallback, ReconcilePayments}
}

// WorkflowNames and StepNames list what Register can register.
func WorkflowNames() []string { return names(Workflows()) }

// StepNames lists the demo's steps in the saga's order.
func StepNames() []string { return names(NewServices(nil).Handlers()) }

func names[T interface{ Name() string }](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.Name()
	}
	return out
}

// Selection says which workflows and steps a worker registers. A nil list
// means all of them, an empty non-nil list none: a payment-only worker is
// Selection{Workflows: []string{}, Steps: []string{"ProcessPayment", "FallbackPayment"}}.
type Selection struct {
	Workflows []string
	Steps     []string
}

// ParseList reads a --workflows or --steps flag: "" or "all" is every one
// (nil), "none" is none, anything else a comma-separated list of names.
func ParseList(s string) []string {
	s = strings.TrimSpace(s)
	switch s {
	case "", "all":
		return nil
	case "none", "-":
		return []string{}
	}
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Register registers the selected workflows and steps on w, the steps
// implemented by svc. An unknown name gives an error wrapping ErrUnknownName
// and registers nothing.
func Register(w *workflow.Worker, svc *Services, sel Selection) error {
	wfs, err := pick(Workflows(), sel.Workflows)
	if err != nil {
		return err
	}
	sts, err := pick(svc.Handlers(), sel.Steps)
	if err != nil {
		return err
	}
	for _, d := range wfs {
		if err := w.RegisterWorkflow(d); err != nil {
			return fmt.Errorf("demo: registering workflow %s: %w", d.Name(), err)
		}
	}
	for _, h := range sts {
		if err := w.RegisterStep(h); err != nil {
			return fmt.Errorf("demo: registering step %s: %w", h.Name(), err)
		}
	}
	return nil
}

func pick[T interface{ Name() string }](all []T, want []string) ([]T, error) {
	if want == nil {
		return all, nil
	}
	known := names(all)
	for _, n := range want {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownName, n, strings.Join(known, ", "))
		}
	}
	var out []T
	for _, x := range all {
		if slices.Contains(want, x.Name()) {
			out = append(out, x)
		}
	}
	return out, nil
}
