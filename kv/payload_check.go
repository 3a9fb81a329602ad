package kv

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpack says that a payload does not fit its type, not where; and it
// converts an integer to a narrower type without a word (300 into an int8
// gives 44, -1 into a uint gives 2^64-1). A walker reads the payload beside
// the type to find the first value that does not fit, with msgpack's own
// rules for each value. It runs when a decode failed, and after a decode
// that succeeded only for types that hold integers msgpack might wrap.

// diagnose says where data does not fit t, after msgpack refused it with err.
func diagnose(data []byte, t reflect.Type, err error) *PayloadError {
	pe, _ := walk(data, t, payloadTag, false)
	if pe == nil {
		// The walker did not find it: say what msgpack said.
		return &PayloadError{Type: t.String(), Err: err}
	}
	if pe.Err == nil {
		pe.Err = err
	}
	return pe
}

// checkRanges finds an integer of data that its field's type cannot hold,
// in data that msgpack decoded into t.
func checkRanges(data []byte, t reflect.Type, tag string) *PayloadError {
	if !mayWrap(t) {
		return nil
	}
	pe, _ := walk(data, t, tag, true)
	return pe
}

func walk(data []byte, t reflect.Type, tag string, rangesOnly bool) (pe *PayloadError, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, err = nil, fmt.Errorf("msgpack: %v", r)
		}
	}()
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(data))
	d.SetCustomStructTag(tag)
	d.DisallowUnknownFields(true)
	w := walker{d: d, tag: tag, rangesOnly: rangesOnly}
	return w.value(t, "")
}

type walker struct {
	d   *msgpack.Decoder
	tag string
	// rangesOnly: msgpack took the payload, so only integers out of range
	// are reported; anything else the walker finds odd is its own mistake.
	rangesOnly bool
}

// value reads one value of type t at path. It returns the first misfit
// found, or an error when the payload itself cannot be read on.
func (w *walker) value(t reflect.Type, path string) (*PayloadError, error) {
	c, err := w.d.PeekCode()
	if err != nil {
		return nil, err
	}
	if c == msgpcode.Nil {
		return nil, w.d.Skip() // nil decodes into anything, as its zero
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if opaque(t) {
		return w.leaf(t, path, c)
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil, w.d.Skip()
	case reflect.Struct:
		if isArray(c) {
			return w.leaf(t, path, c) // msgpack takes a struct as an array of its fields too
		}
		if !isMap(c) {
			return w.misfit(t, path, c)
		}
		n, err := w.d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		fields := fieldsOf(t, w.tag)
		for i := 0; i < n; i++ {
			kc, err := w.d.PeekCode()
			if err != nil {
				return nil, err
			}
			if !isStr(kc) {
				return w.misfit(t, path, c)
			}
			name, err := w.d.DecodeString()
			if err != nil {
				return nil, err
			}
			ft, ok := fields[name]
			if !ok {
				if w.rangesOnly {
					if err := w.d.Skip(); err != nil {
						return nil, err
					}
					continue
				}
				return &PayloadError{Path: join(path, name), Type: t.String(), Got: "unknown field", Unknown: true}, nil
			}
			if pe, err := w.value(ft, join(path, name)); pe != nil || err != nil {
				return pe, err
			}
		}
		return nil, nil
	case reflect.Map:
		if !isMap(c) {
			return w.misfit(t, path, c)
		}
		n, err := w.d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			kc, err := w.d.PeekCode()
			if err != nil {
				return nil, err
			}
			var at string
			if t.Key().Kind() == reflect.String && isStr(kc) {
				k, err := w.d.DecodeString()
				if err != nil {
					return nil, err
				}
				at = join(path, k)
			} else {
				if pe, err := w.value(t.Key(), path); pe != nil || err != nil {
					return pe, err
				}
				at = path + "[…]"
			}
			if pe, err := w.value(t.Elem(), at); pe != nil || err != nil {
				return pe, err
			}
		}
		return nil, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return w.leaf(t, path, c) // bytes: a string or a binary
		}
		if !isArray(c) {
			return w.misfit(t, path, c)
		}
		n, err := w.d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if pe, err := w.value(t.Elem(), path+"["+strconv.Itoa(i)+"]"); pe != nil || err != nil {
				return pe, err
			}
		}
		return nil, nil
	}
	return w.leaf(t, path, c)
}

// leaf reads a value the walker does not look into: an integer is checked
// against its type's range, anything else is decoded by msgpack itself.
func (w *walker) leaf(t reflect.Type, path string, c byte) (*PayloadError, error) {
	if isInteger(t.Kind()) && isInt(c) {
		v, err := w.d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		if overflows(t, v) {
			return &PayloadError{Path: path, Type: t.String(), Got: fmt.Sprintf("integer %v, out of range", v)}, nil
		}
		return nil, nil
	}
	if w.rangesOnly {
		return nil, w.d.Skip()
	}
	if err := w.d.DecodeValue(reflect.New(t).Elem()); err != nil {
		return &PayloadError{Path: path, Type: t.String(), Got: kindOf(c), Err: err}, nil
	}
	return nil, nil
}

// misfit reports a value of the wrong kind for t, unless msgpack took it
// (then the walker misread the type, and skips the value).
func (w *walker) misfit(t reflect.Type, path string, c byte) (*PayloadError, error) {
	if w.rangesOnly {
		return nil, w.d.Skip()
	}
	return &PayloadError{Path: path, Type: t.String(), Got: kindOf(c)}, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func overflows(t reflect.Type, v any) bool {
	z := reflect.New(t).Elem()
	signed := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
	switch x := v.(type) {
	case int64:
		if signed {
			return z.OverflowInt(x)
		}
		return x < 0 || z.OverflowUint(uint64(x))
	case uint64:
		if signed {
			return x > math.MaxInt64 || z.OverflowInt(int64(x))
		}
		return z.OverflowUint(x)
	}
	return false
}

func isInteger(k reflect.Kind) bool {
	return (k >= reflect.Int && k <= reflect.Int64) || (k >= reflect.Uint && k <= reflect.Uint64)
}

func isInt(c byte) bool {
	return msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Uint64) || (c >= msgpcode.Int8 && c <= msgpcode.Int64)
}

func isStr(c byte) bool { return msgpcode.IsString(c) || msgpcode.IsBin(c) }

func isMap(c byte) bool { return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32 }

func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

// kindOf names the kind of value a msgpack code starts.
func kindOf(c byte) string {
	switch {
	case c == msgpcode.Nil:
		return "null"
	case c == msgpcode.True || c == msgpcode.False:
		return "boolean"
	case isInt(c):
		return "integer"
	case c == msgpcode.Float || c == msgpcode.Double:
		return "number"
	case msgpcode.IsString(c):
		return "string"
	case msgpcode.IsBin(c):
		return "binary"
	case isArray(c):
		return "array"
	case isMap(c):
		return "map"
	case msgpcode.IsExt(c) || msgpcode.IsFixedExt(c):
		return "extension"
	}
	return fmt.Sprintf("code 0x%02x", c)
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decoderType = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshaler = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryType  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textType    = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether msgpack decodes t by a method of its own (or as
// an array), so the walker does not look into it.
func opaque(t reflect.Type) bool {
	if t == timeType {
		return true
	}
	p := reflect.PointerTo(t)
	for _, i := range []reflect.Type{decoderType, unmarshaler, binaryType, textType} {
		if t.Implements(i) || p.Implements(i) {
			return true
		}
	}
	if t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName("_msgpack"); ok {
			_, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
			return hasOpt(opts, "as_array") || hasOpt(opts, "asArray")
		}
	}
	return false
}

type fieldsKey struct {
	t   reflect.Type
	tag string
}

var fieldsCache sync.Map // fieldsKey → map[string]reflect.Type

// fieldsOf maps the names a payload may use for t's fields to their types,
// by msgpack's rules: the msgpack tag, else the tag named tag, else the Go
// name; "-" leaves the field out; embedded structs are inlined unless a
// field of theirs is shadowed.
func fieldsOf(t reflect.Type, tag string) map[string]reflect.Type {
	key := fieldsKey{t, tag}
	if fs, ok := fieldsCache.Load(key); ok {
		return fs.(map[string]reflect.Type)
	}
	fs := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		s := f.Tag.Get("msgpack")
		if s == "" && tag != "" {
			s = f.Tag.Get(tag)
		}
		name, opts, _ := strings.Cut(s, ",")
		if name == "-" || (f.PkgPath != "" && !f.Anonymous) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if f.Anonymous && !hasOpt(opts, "noinline") {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && !opaque(et) {
				inner := fieldsOf(et, tag)
				shadowed := false
				for k := range inner {
					if _, ok := fs[k]; ok {
						shadowed = true
					}
				}
				if hasOpt(opts, "inline") || !shadowed {
					for k, ft := range inner {
						if _, ok := fs[k]; !ok {
							fs[k] = ft
						}
					}
					continue
				}
			}
		}
		fs[name] = f.Type
		for _, o := range strings.Split(opts, ",") {
			if alias, ok := strings.CutPrefix(o, "alias:"); ok {
				fs[alias] = f.Type
			}
		}
	}
	fieldsCache.Store(key, fs)
	return fs
}

func hasOpt(opts, name string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

var wrapCache sync.Map // reflect.Type → bool

// mayWrap reports whether t holds an integer type narrower than int64 or
// unsigned, which msgpack fills without a range check.
func mayWrap(t reflect.Type) bool {
	if v, ok := wrapCache.Load(t); ok {
		return v.(bool)
	}
	v := mayWrapIn(t, map[reflect.Type]bool{})
	wrapCache.Store(t, v)
	return v
}

func mayWrapIn(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Pointer:
		return mayWrapIn(t.Elem(), seen)
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() != reflect.Uint8 && mayWrapIn(t.Elem(), seen)
	case reflect.Map:
		return mayWrapIn(t.Key(), seen) || mayWrapIn(t.Elem(), seen)
	case reflect.Struct:
		if opaque(t) {
			return false
		}
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); (f.PkgPath == "" || f.Anonymous) && mayWrapIn(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
