package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// codec translates one workflow's or step's values between the JSON people
// type and the msgpack jetflow stores.
type codec struct {
	// fromJSON decodes JSON strictly and encodes it as msgpack.
	fromJSON func(name string, data []byte) ([]byte, error)
	// toJSON decodes msgpack and encodes it as JSON.
	toJSON func(data []byte) ([]byte, error)
}

func codecOf[T any]() codec {
	return codec{
		fromJSON: func(name string, data []byte) ([]byte, error) {
			var v T
			if err := decodeStrict(name, data, &v); err != nil {
				return nil, err
			}
			return kv.MarshalPayload(v)
		},
		toJSON: func(data []byte) ([]byte, error) {
			var v T
			if err := kv.UnmarshalPayload(data, &v); err != nil {
				return nil, err
			}
			return json.Marshal(v)
		},
	}
}

var (
	inputCodecs = map[string]codec{
		OrderOrchestration.Name():   codecOf[OrderInput](),
		PaymentWithFallback.Name():  codecOf[PaymentInput](),
		ReconcilePayments.Name():    codecOf[ReconcileInput](),
		ValidateOrder.Name():        codecOf[OrderInput](),
		ReserveInventory.Name():     codecOf[OrderInput](),
		ReleaseInventory.Name():     codecOf[string](),
		ProcessPayment.Name():       codecOf[PaymentInput](),
		FallbackPayment.Name():      codecOf[PaymentInput](),
		RefundPayment.Name():        codecOf[string](),
		CreateShipment.Name():       codecOf[OrderInput](),
		SendNotification.Name():     codecOf[OrderInput](),
		VoidReservation.Name():      codecOf[PendingStep](),
		VoidPayment.Name():          codecOf[PendingStep](),
		VoidShipment.Name():         codecOf[PendingStep](),
		FindUnshippedCharges.Name(): codecOf[UnshippedQuery](),
	}
	outputCodecs = map[string]codec{
		OrderOrchestration.Name():   codecOf[OrderOutput](),
		PaymentWithFallback.Name():  codecOf[PaymentOutput](),
		ReconcilePayments.Name():    codecOf[ReconcileOutput](),
		ValidateOrder.Name():        codecOf[ValidationResult](),
		ReserveInventory.Name():     codecOf[string](),
		ReleaseInventory.Name():     codecOf[struct{}](),
		ProcessPayment.Name():       codecOf[PaymentOutput](),
		FallbackPayment.Name():      codecOf[PaymentOutput](),
		RefundPayment.Name():        codecOf[struct{}](),
		CreateShipment.Name():       codecOf[string](),
		SendNotification.Name():     codecOf[struct{}](),
		VoidReservation.Name():      codecOf[struct{}](),
		VoidPayment.Name():          codecOf[struct{}](),
		VoidShipment.Name():         codecOf[struct{}](),
		FindUnshippedCharges.Name(): codecOf[[]UnshippedCharge](),
	}
)

// StartJSON starts a run of the named demo workflow with a JSON input (the
// source document's field names), after checking the JSON strictly: syntax,
// types and unknown fields give an *InputError saying where. Start is
// idempotent on the ID and input, as workflow.Start is (another input for a
// taken ID gives a *workflow.AlreadyStartedError); an unknown workflow gives
// ErrUnknownName.
func StartJSON(ctx context.Context, c *workflow.Client, workflowName, id string, data []byte) error {
	in, err := InputFromJSON(workflowName, data)
	if err != nil {
		return err
	}
	return c.StartRaw(ctx, workflowName, id, in)
}

// InputFromJSON converts the JSON input of a workflow or step to the msgpack
// jetflow stores.
func InputFromJSON(name string, data []byte) ([]byte, error) {
	c, ok := inputCodecs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	return c.fromJSON(name, data)
}

// InputJSON converts the stored input of a workflow or step to JSON.
func InputJSON(name string, data []byte) ([]byte, error) {
	return convert(inputCodecs, name, data)
}

// OutputJSON converts the stored output of a workflow or step to JSON, as
// the source document spells it.
func OutputJSON(name string, data []byte) ([]byte, error) {
	return convert(outputCodecs, name, data)
}

func convert(codecs map[string]codec, name string, data []byte) ([]byte, error) {
	c, ok := codecs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	if len(data) == 0 {
		return []byte("null"), nil
	}
	out, err := c.toJSON(data)
	if err != nil {
		return nil, fmt.Errorf("demo: converting %s to JSON: %w", name, err)
	}
	return out, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(name string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &InputError{Name: name, Err: errors.New("empty input")}
		}
		return inputError(name, data, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return inputError(name, data, dec.InputOffset(), errors.New("more than one JSON value"))
	}
	return nil
}

func inputError(name string, data []byte, offset int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included.
		offset = max(se.Offset-1, 0)
	case errors.As(err, &te):
		offset = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The input stopped in the middle of a value: point at its end.
		offset = int64(len(bytes.TrimRight(data, " \t\r\n")))
	}
	line, col := position(data, offset)
	return &InputError{Name: name, Line: line, Column: col, Err: err}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (int, int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
