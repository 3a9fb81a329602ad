package kv_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/vmihailenco/msgpack/v5"
)

type item struct {
	ProductID string `json:"product_id"`
	Quantity  int8   `json:"quantity"`
}

type base struct {
	Tenant string `json:"tenant"`
}

type order struct {
	base
	OrderID string            `json:"order_id"`
	Items   []item            `json:"items"`
	Note    string            `json:"note,omitempty"`
	Secret  string            `json:"-"`
	Short   string            `msgpack:"s" json:"short_name"`
	Plain   uint              // no tag: its Go name
	Labels  map[string]string `json:"labels,omitempty"`
	At      time.Time         `json:"at"`
}

// The payload wire format: fields by their json names (a msgpack tag
// wins), omitempty and "-" honoured, embedded structs inlined.
func TestPayloadWireFormat(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	in := order{base: base{Tenant: "t1"}, OrderID: "o-1", Items: []item{{"SKU-1", 2}}, Secret: "x", Short: "s1", Plain: 7, At: at}
	data, err := kv.MarshalPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tenant", "order_id", "items", "s", "Plain", "at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %v", k, m)
		}
	}
	for _, k := range []string{"note", "Secret", "short_name", "labels", "OrderID", "base"} {
		if _, ok := m[k]; ok {
			t.Errorf("key %q present in %v", k, m)
		}
	}
	if items, _ := m["items"].([]any); len(items) != 1 || items[0].(map[string]any)["product_id"] != "SKU-1" {
		t.Errorf("items: got %v", m["items"])
	}
	var out order
	if err := kv.UnmarshalPayload(data, &out); err != nil {
		t.Fatal(err)
	}
	in.Secret = ""
	if out.OrderID != in.OrderID || out.Tenant != "t1" || out.Items[0] != in.Items[0] || out.Short != "s1" || out.Plain != 7 || !out.At.Equal(at) || out.Secret != "" {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
	// The bytes of the smallest case, as another language would write them.
	got, err := kv.MarshalPayload(struct {
		ID string `json:"id"`
	}{"a"})
	if want := []byte{0x81, 0xa2, 'i', 'd', 0xa1, 'a'}; err != nil || !bytes.Equal(got, want) {
		t.Errorf("got % x, %v; want % x", got, err, want)
	}
}

// A payload that does not fit its type is a *PayloadError saying where,
// never a silently zero or wrapped field.
func TestPayloadStrictDecode(t *testing.T) {
	enc := func(v any) []byte {
		t.Helper()
		data, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, tt := range []struct {
		name    string
		data    []byte
		path    string
		typ     string
		got     string
		unknown bool
	}{
		{"unknown field", enc(map[string]any{"order_id": "o", "colour": "red"}), "colour", "kv_test.order", "unknown field", true},
		{"Go name of a json-named field", enc(map[string]any{"order_id": "o", "OrderID": "o"}), "OrderID", "kv_test.order", "unknown field", true},
		{"string for a slice", enc(map[string]any{"items": "none"}), "items", "[]kv_test.item", "string", false},
		{"string for an int", enc(map[string]any{"items": []any{map[string]any{"quantity": "2"}}}), "items[0].quantity", "int8", "string", false},
		{"float for an int", enc(map[string]any{"items": []any{map[string]any{}, map[string]any{"quantity": 1.5}}}), "items[1].quantity", "int8", "number", false},
		{"int8 overflow", enc(map[string]any{"items": []any{map[string]any{"quantity": 300}}}), "items[0].quantity", "int8", "integer 300, out of range", false},
		{"negative uint", enc(map[string]any{"Plain": -1}), "Plain", "uint", "integer -1, out of range", false},
		{"unknown nested field", enc(map[string]any{"items": []any{map[string]any{"sku": "x"}}}), "items[0].sku", "kv_test.item", "unknown field", true},
		{"map value of the wrong type", enc(map[string]any{"labels": map[string]any{"env": 1}}), "labels.env", "string", "integer", false},
		{"array for the payload", enc([]int{1}), "", "kv_test.order", "array", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out order
			err := kv.UnmarshalPayload(tt.data, &out)
			var pe *kv.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v (%+v), want a *PayloadError", err, out)
			}
			if pe.Path != tt.path || pe.Type != tt.typ || pe.Got != tt.got || pe.Unknown != tt.unknown {
				t.Errorf("got %+v, want path %q type %q got %q unknown %v", pe, tt.path, tt.typ, tt.got, tt.unknown)
			}
			if out.OrderID != "" || out.Items != nil {
				t.Errorf("a payload that does not decode leaves the value zero, got %+v", out)
			}
		})
	}
	// What decodes: nil for anything, an integer for a float, missing keys.
	var f struct {
		F float64 `json:"f"`
		P *item   `json:"p"`
		N int     `json:"n"`
	}
	if err := kv.UnmarshalPayload(enc(map[string]any{"f": 3, "p": nil}), &f); err != nil || f.F != 3 || f.P != nil {
		t.Errorf("got %+v, %v", f, err)
	}
}

// Payloads recorded before json names (fields by Go names, as the engine's
// codec still writes structs) decode into the same type, as strictly.
func TestPayloadRecordedWithGoNamesStillDecodes(t *testing.T) {
	old, err := kv.Marshal(order{OrderID: "o-1", Items: []item{{"SKU-1", 2}}, Secret: "kept", Plain: 3})
	if err != nil {
		t.Fatal(err)
	}
	var out order
	if err := kv.UnmarshalPayload(old, &out); err != nil {
		t.Fatalf("an old payload: %v", err)
	}
	if out.OrderID != "o-1" || out.Items[0].ProductID != "SKU-1" || out.Items[0].Quantity != 2 || out.Secret != "kept" || out.Plain != 3 {
		t.Errorf("got %+v", out)
	}
	// Old names and new ones mixed in one payload fit neither.
	mixed, _ := msgpack.Marshal(map[string]any{"OrderID": "o", "items": []any{}})
	if err := kv.UnmarshalPayload(mixed, &out); !errors.As(err, new(*kv.PayloadError)) {
		t.Errorf("a mixed payload: got %v, want a *PayloadError", err)
	}
}

// Engine records keep their msgpack short tags and stay tolerant of fields
// they do not know (a newer worker's), while payloads are strict.
func TestEngineRecordsAndPayloadsUseTwoCodecs(t *testing.T) {
	rec, err := kv.Marshal(kv.Result{Kind: kv.KindStep, Name: "Pay", Attempts: 2, CompletedAt: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["n"]; !ok || m["Name"] != nil {
		t.Fatalf("a result record: got keys %v, want its msgpack tags", m)
	}
	m["future_field"] = "from a newer worker"
	newer, _ := msgpack.Marshal(m)
	var r kv.Result
	if err := kv.Unmarshal(newer, &r); err != nil || r.Name != "Pay" || r.Attempts != 2 {
		t.Fatalf("a record with a field this worker does not know: got %+v, %v", r, err)
	}
	type jsonOnly struct {
		OrderID string `json:"order_id"`
	}
	engine, _ := kv.Marshal(jsonOnly{"o"})
	payload, _ := kv.MarshalPayload(jsonOnly{"o"})
	if bytes.Equal(engine, payload) {
		t.Fatalf("json tags: the payload codec must name fields by them, the engine's not")
	}
	extra, _ := msgpack.Marshal(map[string]any{"order_id": "o", "x": 1})
	if err := kv.UnmarshalPayload(extra, new(jsonOnly)); !errors.As(err, new(*kv.PayloadError)) {
		t.Fatalf("a payload with an unknown field: got %v", err)
	}
}

// Start compares inputs as values: the order of a map's keys does not count.
func TestSamePayload(t *testing.T) {
	m := map[string]int{}
	for i := range 50 {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	a, _ := kv.MarshalPayload(m)
	b, _ := kv.Marshal(m) // another encoder, another key order
	if !kv.SamePayload(a, b) {
		t.Error("one map encoded twice differs")
	}
	m["zz"] = 1
	c, _ := kv.MarshalPayload(m)
	if kv.SamePayload(a, c) {
		t.Error("two maps are the same")
	}
	if kv.SamePayload([]byte{0xc1}, []byte{0xc0}) {
		t.Error("garbage is the same as nil")
	}
}
