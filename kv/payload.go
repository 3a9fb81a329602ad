package kv

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// payloadTag names a struct's fields in a payload when they have no
// msgpack tag: their JSON names, so that JSON typed by a person, a webhook
// or another language maps onto the same fields.
const payloadTag = "json"

var payloadEncPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetCustomStructTag(payloadTag)
	// The same value gives the same bytes, so Start can tell a retry from
	// another input by comparing them (for the maps msgpack can sort).
	enc.SetSortMapKeys(true)
	return &pooledEncoder{buf: &buf, enc: enc}
}}

// MarshalPayload encodes a user's value (a workflow's or step's input or
// output, a signal, a side effect) as msgpack, struct fields named by their
// msgpack tag, else their json tag, else their Go name (see the package doc).
func MarshalPayload(v any) ([]byte, error) {
	pe := payloadEncPool.Get().(*pooledEncoder)
	defer payloadEncPool.Put(pe)
	pe.buf.Reset()
	if err := pe.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("kv: encoding %T: %w", v, err)
	}
	return bytes.Clone(pe.buf.Bytes()), nil
}

// UnmarshalPayload decodes a payload into v, a non-nil pointer, strictly: a
// key that names no field of a struct, a value msgpack cannot convert to its
// field's type and an integer out of its field's range are refused with a
// *PayloadError saying where. A payload written before payloads were named
// by json tags (struct fields named by their Go names) decodes too. On an
// error, *v is left zero.
func UnmarshalPayload(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("kv: decoding a payload into %T: want a non-nil pointer", v)
	}
	t := rv.Elem().Type()
	err := decodeStrict(data, v, payloadTag)
	if err == nil {
		if pe := checkRanges(data, t, payloadTag); pe != nil {
			rv.Elem().SetZero()
			return pe
		}
		return nil
	}
	// Written by a jetflow that named fields by their Go names: decoded
	// with the same strictness under that naming.
	rv.Elem().SetZero()
	if decodeStrict(data, v, "") == nil {
		if checkRanges(data, t, "") == nil {
			return nil
		}
	}
	rv.Elem().SetZero()
	return diagnose(data, t, err)
}

// decodeStrict decodes data into v refusing unknown fields; tag is the
// struct tag that names fields without a msgpack tag ("" for Go names).
func decodeStrict(data []byte, v any, tag string) (err error) {
	defer func() {
		// msgpack is defensive, but a decoder must never take a worker down.
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(data))
	d.SetCustomStructTag(tag)
	d.DisallowUnknownFields(true)
	return d.Decode(v)
}

// PayloadError is a payload that does not decode into its Go type, and
// where. Package workflow and steps turn it into their PayloadDecodeError.
type PayloadError struct {
	// Path leads from the payload's root to the offending value, with
	// the payload's own names: "items[2].quantity"; "" for the root.
	Path string
	// Type is the Go type wanted at Path or, for an unknown field, the
	// struct that has no such field.
	Type string
	// Got says what the payload holds at Path ("string", "map", "integer
	// 300, out of range").
	Got string
	// Unknown is set when Path names no field of Type.
	Unknown bool
	// Err is the codec's own error, when it gave one.
	Err error
}

func (e *PayloadError) Error() string {
	return "kv: " + e.reason()
}

// reason says what is wrong, without a package prefix.
func (e *PayloadError) reason() string {
	switch {
	case e.Unknown:
		return fmt.Sprintf("field %q is not in %s", e.Path, e.Type)
	case e.Got != "" && e.Path != "":
		return fmt.Sprintf("at %s: want %s, got %s", e.Path, e.Type, e.Got)
	case e.Got != "":
		return fmt.Sprintf("want %s, got %s", e.Type, e.Got)
	}
	return fmt.Sprintf("does not decode into %s: %v", e.Type, e.Err)
}

func (e *PayloadError) Unwrap() error { return e.Err }

// SamePayload reports whether two payloads hold the same value, whatever
// the order of their maps' keys: what Start compares to tell a retry from
// a different input.
func SamePayload(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, err := decodeAny(a)
	if err != nil {
		return false
	}
	vb, err := decodeAny(b)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// decodeAny decodes a payload without a type: maps as map[any]any,
// integers as int64 or uint64, floats as float64.
func decodeAny(data []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil { // an unhashable map key
			v, err = nil, fmt.Errorf("msgpack: %v", r)
		}
	}()
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(data))
	d.UseLooseInterfaceDecoding(true)
	d.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	return d.DecodeInterfaceLoose()
}
