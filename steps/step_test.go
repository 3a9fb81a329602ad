package steps_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

type reserve struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// A step's input is decoded by its json names, strictly: an input that does
// not fit is a non-retryable BadInput error and the handler is not called.
func TestInvokeDecodesInputStrictly(t *testing.T) {
	called := 0
	step := steps.New("Reserve", func(ctx context.Context, in reserve) (reserve, error) {
		called++
		return in, nil
	})
	good, _ := kv.MarshalPayload(map[string]any{"sku": "A", "qty": 2})
	out, err := step.Invoke(context.Background(), good)
	var back map[string]any
	if err != nil || kv.UnmarshalPayload(out, &back) != nil || back["sku"] != "A" {
		t.Fatalf("got %v (%v), want the input back under its json names", back, err)
	}
	bad, _ := kv.MarshalPayload(map[string]any{"sku": "A", "qty": "two"})
	_, err = step.Invoke(context.Background(), bad)
	var se *steps.Error
	if !errors.As(err, &se) || se.Type != steps.TypeBadInput || !se.NonRetryable || called != 1 {
		t.Fatalf("got %v (handler called %d times), want a non-retryable BadInput before the handler", err, called)
	}
	want := (&steps.PayloadDecodeError{What: "the input of step Reserve", Field: "qty", Type: "int", Got: "string"}).Error()
	if se.Message != want {
		t.Errorf("message %q, want %q", se.Message, want)
	}
}

// ValidName accepts exactly one subject token of 1 to 128 ASCII letters,
// digits, '-' and '_', as the pattern ^[A-Za-z0-9_-]{1,128}$ does.
func TestValidName(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	names := []string{"", "a", "Charge_Card-2", strings.Repeat("x", 128), strings.Repeat("x", 129), "a.b", "a b", "a*", "a>", "é", "a\x00", "\xff"}
	for c := 0; c < 256; c++ {
		names = append(names, "ok"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, n := range names {
		if got, want := steps.ValidName(n), pattern.MatchString(n); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", n, got, want)
		}
	}
}
