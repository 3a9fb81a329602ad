package wire

import "testing"

func TestNames(t *testing.T) {
	tests := []struct {
		name  string
		names Names
		got   func(Names) string
		want  string
	}{
		{"default prefix", NewNames(""), func(n Names) string { return n.Prefix }, "jetflow"},
		{"task stream", NewNames("acme"), Names.TaskStream, "ACME_TASKS"},
		{"event stream", NewNames("acme"), Names.EventStream, "ACME_EVENTS"},
		{"dead-letter stream", NewNames("acme"), Names.DeadLetterStream, "ACME_DLQ"},
		{"workflow subject", NewNames("acme"), func(n Names) string { return n.WorkflowSubject("order") }, "acme.wf.order"},
		{"start subject", NewNames("acme"), func(n Names) string { return n.StartSubject("order") }, "acme.start.order"},
		{"step subject", NewNames("acme"), func(n Names) string { return n.StepSubject("charge") }, "acme.step.charge"},
		{"schedule subject", NewNames("acme"), func(n Names) string { return n.ScheduleSubject("r1", 3, 2) }, "acme.sched.r1.3.2"},
		{"status subject", NewNames("acme"), func(n Names) string { return n.StatusSubject("order", "r1", EventCompleted) }, "acme.status.order.r1.completed"},
		{"status filter of one run", NewNames("acme"), func(n Names) string { return n.StatusFilter("order", "r1") }, "acme.status.order.r1.*"},
		{"status filter of every run", NewNames("acme"), func(n Names) string { return n.StatusFilter("*", "*") }, "acme.status.*.*.*"},
		{"breaker subject", NewNames("acme"), func(n Names) string { return n.BreakerSubject("payments", "open") }, "acme.breaker.payments.open"},
		{"dead-letter subject", NewNames("acme"), func(n Names) string { return n.DeadLetterSubject("step", "charge") }, "acme.dlq.step.charge"},
		{"workflow consumer", NewNames("acme"), func(n Names) string { return n.WorkflowConsumer("order") }, "wf_order"},
		{"step consumer", NewNames("acme"), func(n Names) string { return n.StepConsumer("charge") }, "step_charge"},
		{"default task stream", NewNames(""), Names.TaskStream, "JETFLOW_TASKS"},
		{"default workflow subject", NewNames(""), func(n Names) string { return n.WorkflowSubject("order") }, "jetflow.wf.order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got(tt.names); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMsgID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		seq     int
		attempt int
		action  string
		wantID  string
	}{
		{"step task", "r1", 3, 1, "task", "r1.3.1.task"},
		{"start", "order-42", 0, 0, "start", "order-42.0.0.start"},
		{"retry", "r1", 3, 2, "task", "r1.3.2.task"},
		{"another action", "r1", 3, 2, "timer", "r1.3.2.timer"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MsgID(tt.id, tt.seq, tt.attempt, tt.action)
			if got != tt.wantID {
				t.Errorf("got %q, want %q", got, tt.wantID)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("got %q for both %q and %q, want distinct IDs", got, other, tt.name)
			}
			seen[got] = tt.name
		})
	}
}
