// Package jsonpayload converts workflow and step payloads between JSON and
// the msgpack jetflow stores, without their Go types, so that a client
// that knows only a workflow's name (the jetflow CLI, a service in another
// language) can start it with JSON and read its output as JSON.
//
// JSON objects become msgpack maps keyed by the JSON field names, in the
// order written: they decode into structs whose fields carry those names
// (their json tags). Integral numbers become integers, so that they decode
// into integer fields as well as float ones; other numbers become floats.
// The other way, maps, arrays, numbers, strings, booleans and nil come out
// as their JSON forms (map keys in their stored order, which for a Go
// struct is its field order), byte strings as base64 and times as RFC 3339,
// as encoding/json writes them.
//
// Nothing here is part of jetflow's public API.
package jsonpayload
