package steps_test

import (
	"context"
	"errors"
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
