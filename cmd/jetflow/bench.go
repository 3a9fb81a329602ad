package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{name: "bench", summary: "measure workflows/s, latency, CPU and memory against JetStream's own ceiling", run: runBench})
}

// The benchmark's saga: five no-op services, so what is measured is the engine.
type benchOrder struct {
	OrderID string  `msgpack:"order_id" json:"order_id"`
	Amount  float64 `msgpack:"total_amount" json:"total_amount"`
}

func noop(name string) *steps.Definition[benchOrder, string] {
	return steps.New(name, func(ctx context.Context, in benchOrder) (string, error) { return name + "-" + in.OrderID, nil })
}

var (
	benchSteps = []*steps.Definition[benchOrder, string]{
		noop("BenchValidate"), noop("BenchReserve"), noop("BenchPay"), noop("BenchShip"), noop("BenchNotify"),
	}
	benchSaga = workflow.New("BenchOrder", func(ctx workflow.Context, in benchOrder) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 30 * time.Second})
		saga := workflow.NewSaga(ctx)
		var last string
		for i, s := range benchSteps {
			out, err := workflow.ExecuteStep(ctx, s, in).Get(ctx)
			if err != nil {
				_ = saga.Compensate(ctx)
				return "", err
			}
			if i == 1 {
				workflow.AddCompensation(saga, benchSteps[1], in)
			}
			last = out
		}
		return last, nil
	})
)

// benchReport is what `jetflow bench --json` prints.
type benchReport struct {
	Workflows          int     `json:"workflows"`
	Concurrency        int     `json:"concurrency"`
	Sync               string  `json:"sync"`
	Server             string  `json:"server"`
	Seconds            float64 `json:"seconds"`
	WorkflowsPerSec    float64 `json:"workflows_per_sec"`
	StepsPerSec        float64 `json:"steps_per_sec"`
	P50ms              float64 `json:"p50_ms"`
	P95ms              float64 `json:"p95_ms"`
	P99ms              float64 `json:"p99_ms"`
	CPUmsPerWorkflow   float64 `json:"cpu_ms_per_workflow"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	NATSOpsPerWorkflow float64 `json:"nats_ops_per_workflow"`
	CeilingStepsPerSec float64 `json:"ceiling_steps_per_sec"`
	Efficiency         float64 `json:"efficiency"`
	Failed             int     `json:"failed"`
	Warmup             int     `json:"warmup_runs"`
	SettleSeconds      float64 `json:"settle_seconds,omitempty"`
	// Tracing says whether the run was traced (--trace), and how many
	// spans a workflow made then.
	Tracing          bool    `json:"tracing"`
	SpansPerWorkflow float64 `json:"spans_per_workflow,omitempty"`
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("workflows", 1000, "number of order sagas to run")
	conc := fs.Int("concurrency", 100, "sagas in flight at once")
	syncMode := fs.String("sync", "default", "embedded server fsync: default (every 2 min) or always")
	asJSON := fs.Bool("json", false, "print one JSON object")
	noCeiling := fs.Bool("no-ceiling", false, "skip the JetStream ceiling measurement")
	warm := fs.Int("warmup", 0, "finished runs to create before measuring (growth check)")
	settle := fs.Duration("settle", 0, "wait this long after the warm-up before measuring: past 2m, the server's deduplication window and per-block subject state no longer hold the warm-up's runs, so what is measured is the cost of runs kept, not of runs just finished")
	noLocalWake := fs.Bool("no-local-wake", false, "wake runs through the stream even when this process runs their workflow (for comparison)")
	retention := fs.Duration("retention", workflow.DefaultRetention, "how long closed runs are kept before they are purged")
	memLimit := fs.Int("memory-limit", 0, "Go soft memory limit in MiB for this process (0 = none; like GOMEMLIMIT)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end of the measured run to this file")
	shape := fs.String("shape", "saga", "saga (the order saga, N workflows), sequential (one workflow of --steps steps against one of 100), fanout (one workflow starting --steps steps against --steps one-step workflows) or schedule (the firing delay of an @every 1s schedule over --ticks ticks)")
	traced := fs.Bool("trace", false, "trace every saga (OpenTelemetry SDK, batch processor, spans counted and dropped) to measure what tracing costs")
	shapeSteps := fs.Int("steps", 10_000, "steps of the --shape sequential or fanout workflow")
	ticks := fs.Int("ticks", 60, "ticks of the --shape schedule schedule (one a second)")
	var nf natsFlags
	nf.RegisterEmbedded(fs)
	external := false
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "nats" || f.Name == "server" {
			external = true
		}
	})
	if *n < 1 || *conc < 1 {
		return usagef("--workflows and --concurrency must be at least 1")
	}
	if *memLimit < 0 {
		return usagef("--memory-limit %d: want 0 or more MiB", *memLimit)
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	if *syncMode != "default" && *syncMode != "always" {
		return usagef("--sync must be default or always, not %q", *syncMode)
	}

	var nc *nats.Conn
	server := "embedded"
	if external {
		c, err := nf.Connect("jetflow-bench", 3*time.Second)
		if err != nil {
			return err
		}
		nc, server = c, redactURLs(nf.URL)
	} else {
		dir, cleanup, err := embedded.TempDir()
		if err != nil {
			return err
		}
		defer cleanup()
		srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true, SyncAlways: *syncMode == "always"})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		if nc, err = srv.Connect(); err != nil {
			return err
		}
	}
	defer nc.Close()

	prefix := fmt.Sprintf("bench%d", time.Now().UnixNano()%1_000_000)
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []workflow.Option{workflow.WithPrefix(prefix), workflow.WithLogger(quietLog), workflow.WithReplicas(nf.Replicas), workflow.WithRetention(*retention)}
	var tracing *benchTracing
	if *traced {
		tracing = newBenchTracing()
		opts = append(opts, tracing.options()...)
		ctx = withBenchTracing(ctx, tracing)
	}
	wopts := opts
	if *noLocalWake {
		wopts = append(append([]workflow.Option(nil), opts...), workflow.WithoutLocalWake())
	}
	w, err := workflow.NewWorker(ctx, nc, wopts...)
	if err != nil {
		return err
	}
	var tasks, conflicts atomic.Int64
	w.Hooks.WorkflowTask = func(_ string, _ time.Duration, err error) {
		if !errors.Is(err, workflow.ErrHandedOver) {
			tasks.Add(1)
		}
	}
	w.Hooks.WorkflowTaskConflict = func(string) { conflicts.Add(1) }
	for _, d := range []workflow.Registrable{benchSaga, benchSequential, benchFanOut} {
		if err := w.RegisterWorkflow(d); err != nil {
			return err
		}
	}
	if err := w.RegisterStep(benchTick); err != nil {
		return err
	}
	for _, s := range benchSteps {
		if err := w.RegisterStep(s); err != nil {
			return err
		}
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); _ = w.Run(wctx) }()
	defer func() { stopWorker(); <-workerDone }()
	client, err := workflow.NewClient(ctx, nc, opts...)
	if err != nil {
		return err
	}

	if *shape == "schedule" {
		if *ticks < 1 {
			return usagef("--ticks must be at least 1")
		}
		return runScheduleBench(ctx, nc, client, prefix, server, *ticks, *asJSON)
	}
	if *shape != "saga" {
		if *shapeSteps < 1 {
			return usagef("--steps must be at least 1")
		}
		return runShape(ctx, client, *shape, *shapeSteps, *conc, tasks.Load, conflicts.Load, *asJSON)
	}
	progress := newProgress(os.Stderr, !*asJSON)
	if *warm > 0 {
		progress.label = "warm-up"
		if _, _, err := runSagas(ctx, client, "warm", *warm, *conc, progress); err != nil {
			return err
		}
	}
	if *settle > 0 {
		select {
		case <-time.After(*settle):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	out0 := nc.Stats().OutMsgs
	t0 := time.Now()
	progress.label = "engine"
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	lat, failed, err := runSagas(ctx, client, "run", *n, *conc, progress)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
	}
	elapsed := time.Since(t0)
	ops := nc.Stats().OutMsgs - out0
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	stopWorker()
	<-workerDone

	r := benchReport{Workflows: *n, Concurrency: *conc, Sync: *syncMode, Server: server, Seconds: elapsed.Seconds(), Failed: failed, Warmup: *warm, SettleSeconds: settle.Seconds(), Tracing: *traced}
	if tracing != nil {
		tracing.flush(ctx)
		r.SpansPerWorkflow = float64(tracing.spans.Load()) / float64(*n+*warm)
	}
	r.WorkflowsPerSec = float64(*n) / elapsed.Seconds()
	r.StepsPerSec = r.WorkflowsPerSec * float64(len(benchSteps))
	r.P50ms, r.P95ms, r.P99ms = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
	cpu := tvDur(ru1.Utime) + tvDur(ru1.Stime) - tvDur(ru0.Utime) - tvDur(ru0.Stime)
	r.CPUmsPerWorkflow = float64(cpu.Microseconds()) / 1000 / float64(*n)
	r.PeakRSSMiB = float64(ru1.Maxrss) / 1024
	r.NATSOpsPerWorkflow = float64(ops) / float64(*n)
	if !*noCeiling {
		progress.label = "ceiling"
		ceil, err := measureCeiling(ctx, nc, prefix, *n*len(benchSteps), *conc, progress)
		if err != nil {
			return fmt.Errorf("measuring the JetStream ceiling: %w", err)
		}
		r.CeilingStepsPerSec = ceil
		r.Efficiency = r.StepsPerSec / ceil
	}
	progress.done()
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("jetflow bench: %d order sagas (5 steps each), concurrency %d, %s server, sync %s, after %d finished runs\n", r.Workflows, r.Concurrency, r.Server, r.Sync, r.Warmup)
	fmt.Printf("  throughput        %8.1f workflows/s  %8.1f steps/s\n", r.WorkflowsPerSec, r.StepsPerSec)
	fmt.Printf("  latency           p50 %.1f ms  p95 %.1f ms  p99 %.1f ms\n", r.P50ms, r.P95ms, r.P99ms)
	fmt.Printf("  cpu               %8.2f ms per workflow\n", r.CPUmsPerWorkflow)
	what := "server, engine and workers in one process"
	if r.Server != "embedded" {
		what = "engine and workers; the server runs elsewhere"
	}
	fmt.Printf("  peak RSS          %8.1f MiB (%s)\n", r.PeakRSSMiB, what)
	fmt.Printf("  NATS operations   %8.1f per workflow\n", r.NATSOpsPerWorkflow)
	if r.CeilingStepsPerSec > 0 {
		fmt.Printf("  JetStream ceiling %8.1f steps/s (publish task, fetch+ack, KV create, publish follow-up)\n", r.CeilingStepsPerSec)
		fmt.Printf("  efficiency        %8.2f (engine steps/s ÷ ceiling steps/s)\n", r.Efficiency)
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d sagas did not complete", failed)}
	}
	return nil
}

func tvDur(tv syscall.Timeval) time.Duration {
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

// runSagas runs n sagas with conc in flight and returns their latencies.
func runSagas(ctx context.Context, c *workflow.Client, tag string, n, conc int, p *progress) ([]time.Duration, int, error) {
	lat := make([]time.Duration, n)
	var failed, done atomic.Int64
	var firstErr error
	var once sync.Once
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	stamp := time.Now().UnixNano()
	p.start(n)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, 0, ctx.Err()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			id := fmt.Sprintf("%s-%d-%d", tag, stamp, i)
			sctx, root := benchRoot(ctx)
			run, err := workflow.Start(sctx, c, benchSaga, id, benchOrder{OrderID: id, Amount: 42})
			root.End()
			if err == nil {
				_, err = run.Result(ctx)
			}
			lat[i] = time.Since(t0)
			if err != nil {
				failed.Add(1)
				if errors.Is(err, context.Canceled) {
					once.Do(func() { firstErr = err })
				}
			}
			p.tick(int(done.Add(1)))
		}(i)
	}
	wg.Wait()
	return lat, int(failed.Load()), firstErr
}

func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
}

// measureCeiling runs the engine's access pattern on bare JetStream, on the
// same server and connection: conc chains, each link fetching a task, acking
// it, creating a KV entry and publishing the follow-up task. It returns links
// per second: the most steps per second any engine built this way could do.
func measureCeiling(ctx context.Context, nc *nats.Conn, prefix string, links, conc int, p *progress) (float64, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	name := "CEIL_" + prefix
	subj := prefix + ".ceil.task"
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}, Retention: jetstream.WorkQueuePolicy, Duplicates: 5 * time.Minute})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	kvb, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: prefix + "_ceil"})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteKeyValue(context.WithoutCancel(ctx), prefix+"_ceil") }()
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ceil", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10 * conc})
	if err != nil {
		return 0, err
	}
	var seq, doneN atomic.Int64
	finished := make(chan struct{})
	var finishOnce sync.Once
	var errMu sync.Mutex
	var runErr error
	fail := func(err error) {
		errMu.Lock()
		if runErr == nil {
			runErr = err
		}
		errMu.Unlock()
		finishOnce.Do(func() { close(finished) })
	}
	p.start(links)
	t0 := time.Now()
	for i := 0; i < conc; i++ {
		id := fmt.Sprint(seq.Add(1))
		if _, err := js.Publish(ctx, subj, []byte(id), jetstream.WithMsgID(id)); err != nil {
			return 0, err
		}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		k := doneN.Add(1)
		if k > int64(links) {
			return
		}
		if _, err := kvb.Create(ctx, "k"+string(m.Data()), m.Data()); err != nil {
			fail(err)
			return
		}
		if k+int64(conc) <= int64(links) {
			id := fmt.Sprint(seq.Add(1))
			if _, err := js.Publish(ctx, subj, []byte(id), jetstream.WithMsgID(id)); err != nil {
				fail(err)
				return
			}
		}
		_ = m.Ack()
		p.tick(int(k))
		if k == int64(links) {
			finishOnce.Do(func() { close(finished) })
		}
	}, jetstream.PullMaxMessages(conc))
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	select {
	case <-finished:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if runErr != nil {
		return 0, runErr
	}
	return float64(links) / time.Since(t0).Seconds(), nil
}
