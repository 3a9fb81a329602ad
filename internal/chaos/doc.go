// Package chaos is jetflow's fault-injection harness: it runs the demo's
// order saga on real processes — one `jetflow server` and several `jetflow
// worker` — while it SIGKILLs workers (and restarts them), pauses a worker
// with SIGSTOP past AckWait and wakes it with SIGCONT (a zombie that tries
// to finish what others redid), and SIGKILLs the server and restarts it on
// the same store. Then it checks what the engine promises:
//
//   - every run reaches a terminal status, the one its order calls for;
//   - each order is charged at most once and refunded only if charged, and
//     inventory reserved equals inventory released plus shipped;
//   - compensations ran exactly for the runs that needed them;
//   - no step result was recorded twice, no run closed twice.
//
// The demo's services record every effect under its idempotency key in a
// JetStream KV bucket that all workers share, so the checks see the effects
// of every process, killed ones included.
//
//	bin, _ := chaos.Build(ctx, dir)
//	rep, err := chaos.Run(ctx, chaos.Config{Binary: bin, Dir: dir, Workflows: 1000, Faults: 40})
//	fmt.Println(rep.Line()) // chaos: 1000 workflows, 40 faults, 0 lost, 0 duplicated effects, 0 unfinished
//
// It only signals processes it started, by their handle, and reaps them all.
package chaos
