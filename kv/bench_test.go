package kv_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
)

// benchRun is a run record as the engine keeps it mid-way through a
// 20-position workflow: what every workflow task decodes and encodes.
func benchRun() kv.Run {
	now := time.Now()
	run := kv.Run{ID: "order-0001", Workflow: "OrderOrchestration", Status: kv.StatusRunning,
		Input:       []byte(`{"order_id":"order-0001","user_id":"u1","items":[{"product_id":"p1","quantity":2,"price":12.5}],"total_amount":25}`),
		CurrentStep: "CreateShipment", CreatedAt: now, StartedAt: now, UpdatedAt: now, Tasks: 20}
	for i := 1; i <= 20; i++ {
		run.Commands = append(run.Commands, kv.Command{Seq: i, Kind: kv.KindStep, Name: "Step" + strconv.Itoa(i)})
	}
	return run
}

func BenchmarkCodecRunMarshal(b *testing.B) {
	run := benchRun()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kv.Marshal(run); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCodecRunUnmarshal(b *testing.B) {
	data, err := kv.Marshal(benchRun())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var run kv.Run
		if err := kv.Unmarshal(data, &run); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodecResult is one step result's round trip: written by the
// step runner, read by the workflow's replay.
func BenchmarkCodecResult(b *testing.B) {
	now := time.Now()
	res := kv.Result{Kind: kv.KindStep, Name: "ProcessPayment", Output: []byte("\x82\xa3txn\xabTXN-0000001\xa6amount\xcb@9\x00\x00\x00\x00\x00\x00"),
		Attempts: 1, ScheduledAt: now, StartedAt: now, CompletedAt: now, Worker: "worker-1"}
	b.ReportAllocs()
	for b.Loop() {
		data, err := kv.Marshal(res)
		if err != nil {
			b.Fatal(err)
		}
		var back kv.Result
		if err := kv.Unmarshal(data, &back); err != nil {
			b.Fatal(err)
		}
	}
}
