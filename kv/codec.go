package kv

import (
	"bytes"
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

// Marshal encodes v as msgpack, the format of every internal value and task.
func Marshal(v any) ([]byte, error) {
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	if err := pe.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("kv: encoding %T: %w", v, err)
	}
	return bytes.Clone(pe.buf.Bytes()), nil
}

// Unmarshal decodes msgpack data into v. Any failure wraps ErrCorrupt.
func Unmarshal(data []byte, v any) (err error) {
	defer func() {
		// msgpack is defensive, but a decoder must never take a worker down.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoding %T: %v", ErrCorrupt, v, r)
		}
	}()
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decoding %T: %v", ErrCorrupt, v, err)
	}
	return nil
}
