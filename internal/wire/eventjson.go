package wire

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"
)

// appendJSON appends ev as encoding/json would encode it, byte for byte
// (TestEventJSONMatchesEncodingJSON), without reflection: every step sends
// three events, and json.Marshal was a few per cent of a worker's CPU.
func (ev *Event) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"event":`...)
	b = appendJSONString(b, ev.Event)
	b = append(b, `,"workflow":`...)
	b = appendJSONString(b, ev.Workflow)
	b = append(b, `,"workflow_id":`...)
	b = appendJSONString(b, ev.WorkflowID)
	b = append(b, `,"time":`...)
	if y := ev.Time.Year(); y < 0 || y > 9999 {
		// What json.Marshal refuses: let it say so.
		t, err := json.Marshal(ev.Time)
		if err != nil {
			return nil, err
		}
		b = append(b, t...)
	} else {
		b = append(b, '"')
		b = ev.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if ev.Status != "" {
		b = append(b, `,"status":`...)
		b = appendJSONString(b, ev.Status)
	}
	if ev.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, int64(ev.Seq), 10)
	}
	if ev.Step != "" {
		b = append(b, `,"step":`...)
		b = appendJSONString(b, ev.Step)
	}
	if ev.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(ev.Attempt), 10)
	}
	var err error
	if ev.DurationMS != 0 {
		b = append(b, `,"duration_ms":`...)
		if b, err = appendJSONFloat(b, ev.DurationMS); err != nil {
			return nil, err
		}
	}
	if ev.RetryInMS != 0 {
		b = append(b, `,"retry_in_ms":`...)
		if b, err = appendJSONFloat(b, ev.RetryInMS); err != nil {
			return nil, err
		}
	}
	if ev.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, ev.Error)
	}
	if ev.ErrorType != "" {
		b = append(b, `,"error_type":`...)
		b = appendJSONString(b, ev.ErrorType)
	}
	if ev.Compensation {
		b = append(b, `,"compensation":true`...)
	}
	if ev.Worker != "" {
		b = append(b, `,"worker":`...)
		b = appendJSONString(b, ev.Worker)
	}
	if ev.ChildID != "" {
		b = append(b, `,"child_id":`...)
		b = appendJSONString(b, ev.ChildID)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted. Names and IDs are plain ASCII and are
// copied as they are; anything else (an error message) goes through
// encoding/json, so escaping is exactly its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json formats a float64.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

var eventBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
