// Package metrics exports a worker's activity as Prometheus metrics: step
// attempts and workflow tasks (counters and latency histograms), closed runs,
// and the step attempts and workflow tasks in flight.
//
//	m := metrics.New(w.Name())
//	m.Attach(w)                     // before w.Run
//	w.RegisterStep(m.Step(MyStep))  // counts MyStep's attempts in flight
//	addr, err := m.Serve(ctx, "127.0.0.1:9090")
//
// A Metrics is safe for concurrent use.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcome label values.
const (
	OutcomeOK    = "ok"
	OutcomeError = "error"
	// OutcomeHandedOver: a workflow task handed to the worker holding
	// the run, which moved the run instead.
	OutcomeHandedOver = "handed_over"
)

// Metrics holds one worker's collectors in their own registry.
type Metrics struct {
	reg *prometheus.Registry

	stepAttempts   *prometheus.CounterVec
	stepErrors     *prometheus.CounterVec
	stepDuration   *prometheus.HistogramVec
	stepsInFlight  *prometheus.GaugeVec
	wfTasks        *prometheus.CounterVec
	wfInFlight     *prometheus.GaugeVec
	wfTaskDuration *prometheus.HistogramVec
	wfConflicts    *prometheus.CounterVec
	wfRebuilt      *prometheus.CounterVec
	sweepFindings  *prometheus.CounterVec
	parked         *prometheus.CounterVec
	runsClosed     *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
}

// New returns the metrics of the worker named worker; the name is a constant
// label of every series, so the workers behind one scrape job stay apart.
func New(worker string) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg: reg, labels: prometheus.Labels{"worker": worker}}
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reg: reg,
		stepAttempts: f.counter("jetflow_step_attempts_total",
			"Step attempts this worker finished, by step and outcome (ok or error).", "step", "outcome"),
		stepErrors: f.counter("jetflow_step_errors_total",
			"Failed step attempts by step and error type.", "step", "type"),
		stepDuration: f.histogram("jetflow_step_attempt_duration_seconds",
			"How long step attempts ran.", latency, "step"),
		stepsInFlight: f.gauge("jetflow_steps_in_flight",
			"Step attempts running now on this worker.", "step"),
		wfTasks: f.counter("jetflow_workflow_tasks_total",
			"Workflow tasks (replays that moved a run) this worker finished, by workflow and outcome (ok, error, or handed_over to the worker holding the run).", "workflow", "outcome"),
		wfInFlight: f.gauge("jetflow_workflow_tasks_in_flight",
			"Workflow tasks running now on this worker.", "workflow"),
		wfTaskDuration: f.histogram("jetflow_workflow_task_duration_seconds",
			"How long workflow tasks took.", latency, "workflow"),
		wfConflicts: f.counter("jetflow_workflow_task_conflicts_total",
			"Workflow tasks that lost the race to append to their run's history (another worker moved the run) and were redone from the history.", "workflow"),
		wfRebuilt: f.counter("jetflow_workflow_runs_rebuilt_total",
			"Runs this worker rebuilt from their history because it did not hold them (a restart, an eviction, a task from another worker).", "workflow"),
		sweepFindings: f.counter("jetflow_sweeper_findings_total",
			"Runs the sweeper found owed progress, by problem and whether it repaired them.", "problem", "repaired"),
		parked: f.counter("jetflow_messages_parked_total",
			"Task messages this worker parked on the dead-letter stream instead of retrying them, by kind (wf, step) and name.", "kind", "name"),
		runsClosed: f.counter("jetflow_runs_closed_total",
			"Runs this worker brought to a final status, by workflow and status.", "workflow", "status"),
		runDuration: f.histogram("jetflow_run_duration_seconds",
			"Time from a run's start request to its final status.",
			[]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}, "workflow", "status"),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

type factory struct {
	reg    *prometheus.Registry
	labels prometheus.Labels
}

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: f.labels}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: f.labels}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: f.labels, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Registry is where the collectors live, for callers that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Hooks returns worker hooks that feed the metrics.
func (m *Metrics) Hooks() workflow.Hooks {
	return workflow.Hooks{
		RunClosed: func(wf, status string, d time.Duration) {
			m.runsClosed.WithLabelValues(wf, status).Inc()
			m.runDuration.WithLabelValues(wf, status).Observe(d.Seconds())
		},
		WorkflowTaskStarted: func(wf string) { m.wfInFlight.WithLabelValues(wf).Inc() },
		WorkflowTask: func(wf string, d time.Duration, err error) {
			m.wfInFlight.WithLabelValues(wf).Dec()
			m.wfTasks.WithLabelValues(wf, outcome(err)).Inc()
			m.wfTaskDuration.WithLabelValues(wf).Observe(d.Seconds())
		},
		WorkflowTaskConflict: func(wf string) { m.wfConflicts.WithLabelValues(wf).Inc() },
		RunRebuilt:           func(wf string) { m.wfRebuilt.WithLabelValues(wf).Inc() },
		SweepFinding: func(problem string, repaired bool) {
			m.sweepFindings.WithLabelValues(problem, strconv.FormatBool(repaired)).Inc()
		},
		Parked: func(kind, name string) { m.parked.WithLabelValues(kind, name).Inc() },
		StepAttempt: func(step string, d time.Duration, err error) {
			m.stepAttempts.WithLabelValues(step, outcome(err)).Inc()
			if err != nil {
				m.stepErrors.WithLabelValues(step, steps.AsError(err).Type).Inc()
			}
			m.stepDuration.WithLabelValues(step).Observe(d.Seconds())
		},
	}
}

// Attach sets the worker's hooks to feed the metrics, keeping hooks already
// set. Call it before the worker runs.
func (m *Metrics) Attach(w *workflow.Worker) {
	w.Hooks = Chain(w.Hooks, m.Hooks())
}

// Chain returns hooks that call a's and then b's.
func Chain(a, b workflow.Hooks) workflow.Hooks {
	return workflow.Hooks{
		RunClosed: func(wf, status string, d time.Duration) {
			if a.RunClosed != nil {
				a.RunClosed(wf, status, d)
			}
			if b.RunClosed != nil {
				b.RunClosed(wf, status, d)
			}
		},
		WorkflowTaskStarted: func(wf string) {
			if a.WorkflowTaskStarted != nil {
				a.WorkflowTaskStarted(wf)
			}
			if b.WorkflowTaskStarted != nil {
				b.WorkflowTaskStarted(wf)
			}
		},
		WorkflowTask: func(wf string, d time.Duration, err error) {
			if a.WorkflowTask != nil {
				a.WorkflowTask(wf, d, err)
			}
			if b.WorkflowTask != nil {
				b.WorkflowTask(wf, d, err)
			}
		},
		WorkflowTaskConflict: func(wf string) {
			if a.WorkflowTaskConflict != nil {
				a.WorkflowTaskConflict(wf)
			}
			if b.WorkflowTaskConflict != nil {
				b.WorkflowTaskConflict(wf)
			}
		},
		RunRebuilt: func(wf string) {
			if a.RunRebuilt != nil {
				a.RunRebuilt(wf)
			}
			if b.RunRebuilt != nil {
				b.RunRebuilt(wf)
			}
		},
		SweepFinding: func(problem string, repaired bool) {
			if a.SweepFinding != nil {
				a.SweepFinding(problem, repaired)
			}
			if b.SweepFinding != nil {
				b.SweepFinding(problem, repaired)
			}
		},
		Parked: func(kind, name string) {
			if a.Parked != nil {
				a.Parked(kind, name)
			}
			if b.Parked != nil {
				b.Parked(kind, name)
			}
		},
		StepAttempt: func(step string, d time.Duration, err error) {
			if a.StepAttempt != nil {
				a.StepAttempt(step, d, err)
			}
			if b.StepAttempt != nil {
				b.StepAttempt(step, d, err)
			}
		},
	}
}

func outcome(err error) string {
	switch {
	case errors.Is(err, workflow.ErrHandedOver):
		return OutcomeHandedOver
	case err != nil:
		return OutcomeError
	}
	return OutcomeOK
}

// Step wraps a step handler so that its attempts in flight are counted.
func (m *Metrics) Step(h steps.Handler) steps.Handler {
	return &countedStep{Handler: h, g: m.stepsInFlight.WithLabelValues(h.Name())}
}

type countedStep struct {
	steps.Handler
	g prometheus.Gauge
}

func (c *countedStep) Invoke(ctx context.Context, input []byte) ([]byte, error) {
	c.g.Inc()
	defer c.g.Dec()
	return c.Handler.Invoke(ctx, input)
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
