package jsonpayload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/kv"
)

type item struct {
	SKU      string  `json:"sku" msgpack:"sku"`
	Quantity int     `json:"quantity" msgpack:"quantity"`
	Price    float64 `json:"price" msgpack:"price"`
}

type invoice struct {
	Customer string         `json:"customer" msgpack:"customer"`
	Items    []item         `json:"items" msgpack:"items"`
	Total    float64        `json:"total" msgpack:"total"`
	Paid     bool           `json:"paid" msgpack:"paid"`
	Note     *string        `json:"note" msgpack:"note"`
	Tags     map[string]int `json:"tags" msgpack:"tags"`
	Big      uint64         `json:"big" msgpack:"big"`
}

// JSON under the JSON names decodes into the typed value the engine
// decodes, integral numbers into integer fields whatever their spelling.
func TestFromJSONDecodesIntoTypes(t *testing.T) {
	in := `{"customer": "ada", "items": [{"sku": "A-1", "quantity": 2.0, "price": 10.5}, {"sku": "B", "quantity": 1e1, "price": 3}],
		"total": 24, "paid": true, "note": null, "tags": {"x": 1}, "big": 18446744073709551615}`
	data, err := jsonpayload.FromJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got invoice
	if err := kv.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := invoice{Customer: "ada", Items: []item{{"A-1", 2, 10.5}, {"B", 10, 3}}, Total: 24, Paid: true, Tags: map[string]int{"x": 1}, Big: 1<<64 - 1}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("got %s, want %s", gj, wj)
	}
}

// Out and back: the fields keep their order, a struct's comes out in its
// field order, bytes as base64, times as RFC 3339.
func TestToJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"object order", `{"z":1,"a":[true,null,"s",-3,2.5],"m":{"b":{},"a":[]}}`},
		{"scalar", `"hello"`},
		{"null", `null`},
		{"big", `[18446744073709551615,-9223372036854775808,1.5e+300]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := jsonpayload.FromJSON([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonpayload.ToJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.in {
				t.Errorf("got %s, want %s", got, tc.in)
			}
		})
	}

	t.Run("typed", func(t *testing.T) {
		type out struct {
			ID   string    `msgpack:"id"`
			Raw  []byte    `msgpack:"raw"`
			At   time.Time `msgpack:"at"`
			Keys map[int]string
		}
		data, err := kv.Marshal(out{ID: "x", Raw: []byte{0, 1, 2}, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Keys: map[int]string{7: "seven"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonpayload.ToJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"id":"x","raw":"AAEC","at":"2026-01-02T03:04:05Z","Keys":{"7":"seven"}}`; string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})

	t.Run("empty", func(t *testing.T) {
		if got, err := jsonpayload.ToJSON(nil); err != nil || string(got) != "null" {
			t.Errorf("got %s, %v; want null", got, err)
		}
	})
}

func TestToJSONRefusesMalformed(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 100_000), 0xc0) // arrays of one array …
	for name, data := range map[string][]byte{
		"truncated map": {0x82, 0xa1, 'a'},
		"trailing":      {0xc0, 0xc0},
		"deep":          deep,
		"reserved code": {0xc1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := jsonpayload.ToJSON(data); !errors.Is(err, jsonpayload.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// Invalid JSON says where, as the CLI prints it.
func TestFromJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		line, col  int
		wantInText string
	}{
		{"syntax", "{\"a\": 1,\n \"b\": [,]}", 2, 8, "invalid character ','"},
		{"cut short", `{"a":`, 1, 6, "unexpected EOF"},
		{"two values", `{} {}`, 1, 4, "more than one JSON value"},
		{"field twice", `{"a": 1, "a": 2}`, 1, 13, `field "a" given twice`},
		{"empty", "  ", 0, 0, "empty input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jsonpayload.FromJSON([]byte(tc.in))
			var je *jsonpayload.Error
			if !errors.As(err, &je) {
				t.Fatalf("got %v, want a *jsonpayload.Error", err)
			}
			if je.Line != tc.line || je.Column != tc.col || !strings.Contains(je.Error(), tc.wantInText) {
				t.Errorf("got line %d column %d %q; want line %d column %d, %q", je.Line, je.Column, je.Error(), tc.line, tc.col, tc.wantInText)
			}
		})
	}
}
