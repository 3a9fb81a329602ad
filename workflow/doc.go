// Package workflow is jetflow's programming model: durable workflows written
// as ordinary Go functions, whose steps travel as JetStream messages to any
// worker and whose progress survives any crash.
//
// # Workflows and steps
//
// A workflow is a typed function of a Context and an input. Each side effect
// is a step (package steps), scheduled with ExecuteStep, which returns a
// Future at once; Get waits for the result. Two steps started before either
// Get run in parallel:
//
//	var Order = workflow.New("Order", func(ctx workflow.Context, in OrderInput) (OrderOutput, error) {
//		ctx = workflow.WithStepOptions(ctx, steps.Options{
//			StartToCloseTimeout: 30 * time.Second,
//			RetryPolicy: &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Second,
//				BackoffCoefficient: 2, NonRetryableErrorTypes: []string{"InsufficientStock"}},
//		})
//		id, err := workflow.ExecuteStep(ctx, ReserveInventory, in).Get(ctx)
//		if err != nil {
//			return OrderOutput{Status: "out_of_stock"}, nil
//		}
//		...
//	})
//
// A Worker registers workflows and steps and serves them; a Client starts
// runs and waits for their results:
//
//	w, _ := workflow.NewWorker(ctx, nc)
//	w.RegisterWorkflow(Order)
//	w.RegisterStep(ReserveInventory)
//	go w.Run(ctx)
//
//	c, _ := workflow.NewClient(ctx, nc)
//	run, _ := workflow.Start(ctx, c, Order, "order-1001", input)
//	out, err := run.Result(ctx)
//
// Start is idempotent on the workflow ID: the same ID and input return the
// run started first; another input, or another workflow, gets an
// *AlreadyStartedError, and the ID of a closed run goes to a new run only
// when WithIDReusePolicy says so. Inputs and outputs travel as msgpack with
// struct fields named by their json tags, so JSON from any client maps onto
// them; one that does not fit its type is a *PayloadDecodeError, never a
// zero value. Every worker shares one durable
// consumer per workflow type and per step, so adding workers adds capacity,
// and a worker may serve only some steps.
//
// Workers (and Deploy, for administrators) create the namespace's streams
// and buckets; a Client only binds to them and returns a *NotDeployedError
// when they are missing, so a client that may only read never creates one.
//
// # How a run lives in a worker
//
// A worker runs each workflow's code in a goroutine of its own and keeps it
// between workflow tasks: Get waits for the result instead of re-running the
// code, so a defer runs once per run and recover cannot swallow the waiting.
// Each workflow task appends what the code saw and decided to the run's
// history (create-only keys in the steps bucket, one per task), so the cost
// of a step does not grow with the run's length. A worker holds at most
// WithCacheSize runs (least recently used out); a run it does not hold —
// after a restart, an eviction, or a task that reached another worker — is
// rebuilt by replaying its code against the history.
//
// # Determinism
//
// Because a run may be rebuilt by replay, the code must make the same
// decisions in the same order every time. Inside a workflow, do not read the
// clock (use Now), sleep (use Sleep, a durable timer that lives in the
// server), start goroutines (start several steps and Get them, or wait for
// the first with a Selector), range over maps to decide what to schedule,
// or do I/O (do it in a step); use SideEffect for random values. Logger is
// quiet while the code re-executes decisions it already made. When replay
// finds a different decision at a recorded position — a deployment
// reordered the steps of a running workflow — the run fails with a
// *NonDeterminismError naming the workflow, the position and the expected
// and found step, never a panic or a hang. The jetflow-vet command (package
// workflow/analyzer) reports these constructs before a deployment does:
// go vet -vettool=$(which jetflow-vet) ./...
//
// A worker that evicts a run ends its goroutine with runtime.Goexit: the
// code's deferred calls run then (quietly, and a workflow call made from
// one does nothing), so keep side effects out of defers.
//
// # Waiting for the first of several
//
// A Selector waits for whichever future resolves first; the choice follows
// the order in which the results were recorded, so replay makes it again:
//
//	pay := workflow.ExecuteStep(ctx, Charge, in)
//	timeout := workflow.NewTimer(ctx, 15*time.Minute)
//	workflow.NewSelector(ctx).
//		AddFuture(pay, func() { res, err = pay.Get(ctx) }).
//		AddFuture(timeout, func() { err = ErrTooSlow }).
//		Select(ctx)
//
// # Talking to a running workflow
//
// A SignalDef (NewSignal) is a typed message a run receives: Receive in
// workflow code, Signal or SignalWithStart from outside. Signals are
// durable, received in the order the server accepted them, each once into
// the history. Client.Cancel asks a run to stop: ctx.Err() and what the code
// waits on return a *CanceledError, and compensations run in a
// NewDisconnectedContext (Saga.Compensate does by itself); Client.Terminate
// ends it at once. SetQueryHandler answers Query without changing the run.
//
// # Child workflows
//
// ExecuteChild starts another workflow as a run of its own and returns a
// ChildFuture; a replaying parent never starts it twice. WithChildOptions
// sets its ID and ParentClosePolicy (terminate, the default; cancel;
// abandon): what happens to it when the parent is canceled or ends first.
// A child that did not complete reaches the parent as a *ChildError.
//
//	ctx = workflow.WithChildOptions(ctx, workflow.ChildOptions{ID: "pay-" + in.OrderID})
//	receipt, err := workflow.ExecuteChild(ctx, PaymentWithFallback, pay).Get(ctx)
//
// # Long and endless workflows
//
// One execution's history holds at most MaxHistoryEvents events; a run that
// would pass it fails with a *HistoryLimitError. A workflow that loops for a
// long time returns ContinueAsNew(ctx, nextInput) every so often: the run
// goes on under the same workflow ID with a fresh history.
//
// # Retries and errors
//
// The step's RetryPolicy decides retries; jetflow is the only retry
// authority (redelivery is only for crashed workers). Retries are delayed in
// the server with message schedules, not in a worker's memory. A step that
// fails for good reaches workflow code as a *StepError wrapping the step's
// *steps.Error: errors.As gives its Type, errors.Is(err,
// steps.ErrAttemptsExhausted) says the attempts ran out.
//
// # Saga
//
// NewSaga collects compensations (AddCompensation, checked by the compiler
// against the step's input type); Compensate runs them in reverse order,
// each a durable step with its own retries. A compensation that fails for
// good, or cannot even be scheduled, is never dropped: the run ends
// compensation_failed and says which and why.
//
// # Circuit breakers
//
// steps.Options.Breaker guards a step with a named breaker whose state lives
// in the jetflow_breakers bucket, shared by every worker. While it is open,
// attempts fail at once with steps.ErrBreakerOpen without calling the
// handler, so workflow code can fall back to another service. It opens on
// FailureThreshold consecutive failures, or, with FailureRateThreshold set,
// on a share of failures among at least MinimumCalls calls in the last
// Window:
//
//	steps.BreakerPolicy{Name: "payments", FailureThreshold: 5, ResetTimeout: time.Minute}
//	steps.BreakerPolicy{Name: "payments", FailureRateThreshold: 0.5, MinimumCalls: 20, Window: 10 * time.Second}
//
// Consecutive failures are a sensitive rule where failures come in bursts
// (retries of one broken request land together); the rate rule ignores a
// steady minority of failures, and costs a write per outcome.
//
// # Testing
//
// Package workflowtest runs workflow code in unit tests in virtual time, on
// this package's own execution code: timers and retry backoffs pass at
// once, steps run for real or as typed fakes, signals and cancellation
// come at a virtual time, and every history is replayed at the end so that
// non-deterministic code fails the test:
//
//	env := workflowtest.NewEnv(t)
//	workflowtest.OnStep(env, ReserveInventory, func(ctx context.Context, in OrderInput) (string, error) {
//		return "R-1", nil
//	})
//	env.CancelAt(20*time.Minute, "customer asked")
//	out, err := workflowtest.ExecuteWorkflow(env, OrderOrchestration, in)
//
// For what needs a server (crashes, several workers, the wire), package
// embedded starts a real JetStream in the test process in milliseconds (see
// the example).
package workflow
