package jsonpayload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxDepth bounds the nesting ToJSON follows, so that a corrupt or hostile
// payload cannot exhaust the stack.
const maxDepth = 1000

// ErrMalformed is msgpack that ToJSON cannot read.
var ErrMalformed = errors.New("jsonpayload: malformed msgpack")

// ToJSON converts one msgpack value to JSON; empty data is null. Data that
// is not one msgpack value gives an error wrapping ErrMalformed.
func ToJSON(data []byte) (out json.RawMessage, err error) {
	if len(data) == 0 {
		return json.RawMessage("null"), nil
	}
	defer func() {
		// The decoder is defensive, but a CLI must never crash on a payload.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrMalformed, r)
		}
	}()
	r := bytes.NewReader(data)
	dec := msgpack.NewDecoder(r)
	var buf bytes.Buffer
	if err := write(&buf, dec, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrMalformed, r.Len())
	}
	return buf.Bytes(), nil
}

func write(buf *bytes.Buffer, dec *msgpack.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested more than %d deep", maxDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return err
		}
		buf.WriteByte('{')
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, err := dec.DecodeInterface()
			if err != nil {
				return err
			}
			key, ok := k.(string)
			if !ok {
				key = fmt.Sprint(k)
			}
			if err := value(buf, key); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := write(buf, dec, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		buf.WriteByte('[')
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := write(buf, dec, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	v, err := dec.DecodeInterface()
	if err != nil {
		return err
	}
	return value(buf, v)
}

// value writes a scalar as encoding/json does; a float JSON cannot hold
// (NaN, ±Inf) becomes a string.
func value(buf *bytes.Buffer, v any) error {
	switch f := v.(type) {
	case float64:
		if math.IsNaN(f) || math.IsInf(f, 0) {
			v = fmt.Sprint(f)
		}
	case float32:
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			v = fmt.Sprint(f)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
