package jsonpayload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
)

// Error is JSON that FromJSON refuses, with where: Line and Column are
// 1-based (0 when the input is empty), Offset counts bytes.
type Error struct {
	Line, Column int
	Offset       int64
	Err          error
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "invalid JSON: " + e.Err.Error()
	}
	return fmt.Sprintf("invalid JSON at line %d, column %d: %v", e.Line, e.Column, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// FromJSON converts exactly one JSON value to msgpack. JSON that is not
// valid, holds more than one value or an object with a field twice gives
// an *Error.
func FromJSON(data []byte) ([]byte, error) {
	// A first pass checks the syntax, with encoding/json's own errors and
	// offsets; the second keeps the order of the fields, which a map
	// would lose.
	dec := json.NewDecoder(bytes.NewReader(data))
	var check any
	if err := dec.Decode(&check); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Err: errors.New("empty input")}
		}
		return nil, errorAt(data, dec.InputOffset(), err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// Point at where the second value starts.
		next := end + int64(len(data[end:])-len(bytes.TrimLeft(data[end:], " \t\r\n")))
		return nil, errorAt(data, next, errors.New("more than one JSON value"))
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return nil, errorAt(data, dec.InputOffset(), err)
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := encode(enc, v); err != nil {
		return nil, fmt.Errorf("jsonpayload: encoding msgpack: %w", err)
	}
	return buf.Bytes(), nil
}

// object is a JSON object with its fields in the order written.
type object struct {
	keys []string
	vals []any
}

// readValue reads one value, whose syntax is known to be valid, keeping
// the order of object fields.
func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			arr := []any{}
			for dec.More() {
				v, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ]
			return arr, err
		}
		obj := &object{}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := k.(string)
			if seen[key] {
				return nil, fmt.Errorf("field %q given twice", key)
			}
			seen[key] = true
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			obj.keys, obj.vals = append(obj.keys, key), append(obj.vals, v)
		}
		_, err := dec.Token() // }
		return obj, err
	case json.Number:
		return number(t), nil
	default:
		return tok, nil // string, bool, nil
	}
}

// number makes an integral number an integer (2, 2.0 and 2e3 alike: a
// msgpack float does not decode into an integer field) and any other a
// float.
func number(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u
	}
	f, err := n.Float64()
	if err != nil {
		return f // out of range: ±Inf, which msgpack carries
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f)
	}
	return f
}

func encode(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case *object:
		if err := enc.EncodeMapLen(len(x.keys)); err != nil {
			return err
		}
		for i, k := range x.keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := encode(enc, x.vals[i]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := encode(enc, e); err != nil {
				return err
			}
		}
		return nil
	default:
		return enc.Encode(x)
	}
}

// errorAt places err in data.
func errorAt(data []byte, offset int64, err error) *Error {
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
	offset = min(max(offset, 0), int64(len(data)))
	line, col := 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Column: col, Offset: offset, Err: err}
}
