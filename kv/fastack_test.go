package kv

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParseAck(t *testing.T) {
	for _, tt := range []struct {
		ack     string
		seq     uint64
		wrong   bool
		failure bool
	}{
		{ack: `{"stream":"KV_x","seq":12}`, seq: 12},
		{ack: `{"stream":"KV_x","domain":"hub","seq":7,"duplicate":true}`, seq: 7},
		{ack: `{"stream":"KV_x", "seq": 9}`, seq: 9},
		{ack: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_x","seq":0}`, wrong: true},
		{ack: `{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}`, wrong: true},
		{ack: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`, failure: true},
		{ack: `{"stream":"KV_x","seq":12345678901234567890123}`, failure: true},
		{ack: `not json`, failure: true},
		{ack: `{"stream":"KV_x"}`, failure: true},
	} {
		seq, err := parseAck([]byte(tt.ack))
		switch {
		case tt.wrong:
			if !errors.Is(err, errWrongLastSequence) {
				t.Errorf("%s: got %d, %v; want wrong last sequence", tt.ack, seq, err)
			}
		case tt.failure:
			if err == nil || errors.Is(err, errWrongLastSequence) {
				t.Errorf("%s: got %d, %v; want an error", tt.ack, seq, err)
			}
			var apiErr *jetstream.APIError
			if strings.Contains(tt.ack, `"err_code"`) && (!errors.As(err, &apiErr) || apiErr.ErrorCode == 0) {
				t.Errorf("%s: got %v; want a *jetstream.APIError with its code", tt.ack, err)
			}
		case err != nil || seq != tt.seq:
			t.Errorf("%s: got %d, %v; want %d", tt.ack, seq, err, tt.seq)
		}
	}
}
