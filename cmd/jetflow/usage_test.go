package main

import (
	"strings"
	"testing"
	"time"
)

// Bad flags, arguments and JSON input exit 2 and say what is wrong and
// where, before anything connects (the URL below has no server).
func TestCLIUsageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const nowhere = "nats://127.0.0.1:1"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"status", "--bogus", "x"}, []string{"flag provided but not defined: -bogus"}},
		{"status without ID", []string{"status", "--nats", nowhere}, []string{"missing run ID"}},
		{"invalid ID", []string{"status", "a.b", "--nats", nowhere}, []string{`invalid workflow ID "a.b"`, "byte 1"}},
		{"bad duration", []string{"result", "x", "--wait-timeout", "soon"}, []string{`invalid value "soon" for flag -wait-timeout`}},
		{"invalid workflow name", []string{"start", "No.pe", "--input", "{}", "--nats", nowhere}, []string{`invalid workflow name "No.pe"`}},
		// A workflow the demo does not know is checked as JSON only: its
		// types live in its worker.
		{"JSON syntax, any workflow", []string{"start", "Hello", "--nats", nowhere, "--input", "{\"name\": \"x\",\n \"tags\": [,]}"},
			[]string{"invalid Hello input at line 2, column 11 (byte offset 24)", "invalid character ','", "\n   \"tags\": [,]}\n            ^"}},
		{"JSON two values, any workflow", []string{"start", "Hello", "--nats", nowhere, "--input", `{} {}`}, []string{"invalid Hello input at line 1, column 4", "more than one JSON value"}},
		{"start without input", []string{"start", "OrderOrchestration", "--id", "x", "--nats", nowhere}, []string{"missing --input"}},
		{"JSON syntax", []string{"start", "OrderOrchestration", "--id", "x", "--nats", nowhere, "--input", "{\"order_id\": \"x\",\n \"items\": [,]}"},
			[]string{"line 2, column 12 (byte offset 29)", "invalid character ','"}},
		{"JSON cut short", []string{"start", "OrderOrchestration", "--id", "x", "--nats", nowhere, "--input", `{"order_id":`},
			[]string{"line 1, column 13 (byte offset 12)", "unexpected EOF"}},
		{"JSON type", []string{"start", "OrderOrchestration", "--id", "x", "--nats", nowhere, "--input", `{"order_id": 7}`},
			[]string{"line 1, column 15 (byte offset 14)", "order_id"}},
		{"JSON unknown field", []string{"start", "OrderOrchestration", "--id", "x", "--nats", nowhere, "--input", `{"order": "x"}`},
			[]string{`unknown field "order"`}},
		{"endless input", []string{"start", "OrderOrchestration", "--nats", nowhere, "--input", "@/dev/zero"}, []string{"more than 64 MiB"}},
		{"start bad wait timeout", []string{"start", "OrderOrchestration", "--wait", "--wait-timeout", "-1s", "--input", "{}"}, []string{"--wait-timeout -1s"}},
		{"non-ASCII ID", []string{"status", "订单-1", "--nats", nowhere}, []string{"'订'"}},
		{"input file missing", []string{"start", "OrderOrchestration", "--nats", nowhere, "--input", "@/nonexistent/order.json"}, []string{"/nonexistent/order.json"}},
		{"list bad status", []string{"list", "--status", "done", "--nats", nowhere}, []string{`--status "done"`, "completed"}},
		{"breakers bad subcommand", []string{"breakers", "open", "x", "--nats", nowhere}, []string{`unexpected argument "open"`}},
		{"worker unknown step", []string{"worker", "--steps", "ProcessPayment,Nope", "--nats", nowhere}, []string{`--steps: unknown name "Nope"`}},
		{"worker nothing", []string{"worker", "--steps", "none", "--workflows", "none", "--nats", nowhere}, []string{"nothing to run"}},
		{"worker log format", []string{"worker", "--log-format", "xml", "--nats", nowhere}, []string{`--log-format "xml"`}},
		{"server open listen", []string{"server", "--listen", "0.0.0.0:0", "--data", "unused"}, []string{"refusing to listen on 0.0.0.0:0 without authentication", "--insecure"}},
		{"server bad sync", []string{"server", "--sync", "sometimes"}, []string{`--sync "sometimes"`}},
		{"server bad listen", []string{"server", "--listen", "localhost"}, []string{`--listen "localhost": want host:port`}},
		{"server routes alone", []string{"server", "--routes", "nats-route://127.0.0.1:1"}, []string{"need --cluster-listen"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"permissions unknown role", []string{"permissions", "root"}, []string{`unknown role "root"`, "watcher"}},
		{"permissions without role", []string{"permissions"}, []string{"missing role"}},
		{"permissions bad format", []string{"permissions", "worker", "--format", "yaml"}, []string{`--format "yaml"`}},
		{"init bad size", []string{"init", "--events-max-bytes", "lots", "--nats", nowhere}, []string{`--events-max-bytes "lots"`}},
		{"worker bad age", []string{"worker", "--dlq-max-age", "0s", "--nats", nowhere}, []string{"--dlq-max-age 0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := cli(t, 20*time.Second, tc.args...)
			if code != 2 {
				t.Errorf("jetflow %s: exit %d, want 2\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}
