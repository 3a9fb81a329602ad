// Package kv owns every JetStream key-value bucket jetflow uses, the few
// ways the engine writes to them, and the codec of what it stores. It is
// engine machinery: applications use packages workflow and steps and never
// import kv, whose API changes with the engine.
//
// There are three buckets, named from the namespace prefix (default "jetflow"):
//
//	jetflow_runs      one record per workflow run, key = workflow ID
//	jetflow_steps     one result per step, timer or side effect, key = <workflowID>.<seq>
//	jetflow_breakers  one record per circuit breaker, key = breaker name
//
// Every write is either create-only ([Create]: the first writer wins, later
// writers get [ErrExists]) or revision-checked ([Update]: a writer holding a
// stale revision gets [ErrConflict]). That is what makes redelivered tasks,
// zombie workers and concurrent replays harmless: a late write loses and is
// discarded instead of overwriting a recorded result.
//
// # Wire format
//
// Everything is msgpack (https://msgpack.org), with two codecs:
//
// Engine records and task messages ([Run], [Result], [Batch], the task and
// signal messages) go through [Marshal] and [Unmarshal]: structs are maps
// keyed by their short msgpack tags ("id", "wf", "st"...), and decoding skips
// keys it does not know, so that during a rolling upgrade an older worker
// reads what a newer one wrote. Breaker records are JSON, for operators.
//
// Payloads — what a user's code hands jetflow: workflow and step inputs and
// outputs, signal payloads, side effect values, a continue-as-new input —
// go through [MarshalPayload] and [UnmarshalPayload], and are stored as
// opaque bytes inside the records. Their wire format is the one JSON users
// expect, in msgpack:
//
//   - A struct is a map keyed by field names: the field's msgpack tag if it
//     has one (it wins, as in msgpack), else its json tag, else its Go name.
//     "-" leaves a field out and omitempty omits a zero value, from either
//     tag; embedded structs are inlined as encoding/json does. Names match
//     exactly (encoding/json also matches case-insensitively; jetflow does
//     not). The json options "string" and "omitzero" are not applied.
//   - Integers are msgpack integers in the fewest bytes, floats are
//     float64 (float32 for float32 fields), strings are str, []byte is bin,
//     slices and arrays are arrays, maps are maps (map[string]string,
//     map[string]bool and map[string]any with sorted keys), nil is nil,
//     time.Time is msgpack's timestamp extension (-1).
//   - Decoding is strict: a key that names no field of the struct, a value
//     of a kind msgpack cannot convert to the field's type (a string for an
//     int, a float for an int, an array for a struct), and an integer out of
//     its field's range (300 for an int8, -1 for a uint) fail with a
//     *[PayloadError] naming the path, the Go type and what was found.
//     nil decodes into anything as its zero value; a missing key leaves its
//     field zero; an integer decodes into a float field.
//
// So a JSON object {"order_id": "o-1", "items": [{"qty": 2}]} converted to
// msgpack with the same keys decodes into a Go struct with those json tags.
//
// Payloads written by a jetflow that named fields by their Go names only
// (before payloads followed json tags) still decode: a payload that does not
// fit under the json names is decoded again, as strictly, under the Go names.
package kv
