// Package chaos is jetflow's fault-injection harness: it runs the demo's
// order saga and the exercise workflows (internal/demo/exercise.go: long
// runs that continue as new, fan-outs, a selector racing a step against a
// timer) on real processes — one `jetflow server` and several `jetflow
// worker --exercise` — while it SIGKILLs workers (and restarts them),
// pauses a worker with SIGSTOP past AckWait and wakes it with SIGCONT (a
// zombie that tries to finish what others redid), SIGKILLs the server and
// restarts it on the same store, publishes junk just under the server's
// max_payload on a task subject, and publishes junk under the
// deduplication ID an order about to start would have had before runs had
// incarnations. Then it checks what the engine promises:
//
//   - every run reaches a terminal status, the one its order calls for, and
//     an exercise run's output adds up (n(n+1)/2, the executions planned, a
//     race's choice as its history delivered it);
//   - each order is charged at most once and refunded only if charged, and
//     inventory reserved equals inventory released plus shipped; each
//     position of an exercise run had its effect once;
//   - compensations ran exactly for the runs that needed them;
//   - no step result was recorded twice, no run closed twice;
//   - every junk message was parked once and left the task stream;
//   - no run is stuck: the doctor (Client.Doctor) finds none owed progress
//     once the workers' sweepers (1 s interval, 3 s grace) have had their go.
//
// The demo's services and the exercises' step record every effect under its
// idempotency key in a JetStream KV bucket that all workers share, so the
// checks see the effects of every process, killed ones included.
//
//	bin, _ := chaos.Build(ctx, dir)
//	rep, err := chaos.Run(ctx, chaos.Config{Binary: bin, Dir: dir, Workflows: 1000, Faults: 40})
//	fmt.Println(rep.Line()) // chaos: 1000 workflows, 40 faults, 0 lost, 0 duplicated effects, 0 unfinished, stuck 0; ...
//
// It only signals processes it started, by their handle, and reaps them all.
package chaos
