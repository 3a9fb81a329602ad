package kv

import "errors"

var (
	// ErrExists is returned by Create when the key already holds a value.
	ErrExists = errors.New("kv: key exists")
	// ErrConflict is returned by Update when the key changed since the
	// revision the caller read.
	ErrConflict = errors.New("kv: revision conflict")
	// ErrNotFound is returned by Get when the key holds no value.
	ErrNotFound = errors.New("kv: key not found")
	// ErrCorrupt is returned when a stored value cannot be decoded.
	ErrCorrupt = errors.New("kv: corrupt value")
)
