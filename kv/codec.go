package kv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

var encPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	return &pooledEncoder{buf: &buf, enc: enc}
}}

type pooledEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// jsonRecord is a record stored as JSON rather than msgpack because
// operators read it with the nats CLI (Breaker).
type jsonRecord interface{ storedAsJSON() }

// Marshal encodes one of the engine's own records or task messages as
// msgpack, fields named by their msgpack tags (or as JSON for the records
// operators read directly: Breaker). A user's value goes through
// MarshalPayload instead.
func Marshal(v any) ([]byte, error) {
	if _, ok := v.(jsonRecord); ok {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("kv: encoding %T: %w", v, err)
		}
		return data, nil
	}
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	if err := pe.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("kv: encoding %T: %w", v, err)
	}
	return bytes.Clone(pe.buf.Bytes()), nil
}

// Unmarshal decodes one of the engine's records (msgpack, or for a JSON
// record JSON; msgpack never starts with '{' for a record) into v. Keys it
// does not know are skipped, so a worker still reads a record a newer one
// wrote with more fields. Any failure wraps ErrCorrupt.
func Unmarshal(data []byte, v any) (err error) {
	defer func() {
		// msgpack is defensive, but a decoder must never take a worker down.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoding %T: %v", ErrCorrupt, v, r)
		}
	}()
	if _, ok := v.(jsonRecord); ok && len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%w: decoding %T: %v", ErrCorrupt, v, err)
		}
		return nil
	}
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decoding %T: %v", ErrCorrupt, v, err)
	}
	return nil
}
