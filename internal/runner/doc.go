// Package runner is the engine side of steps: it consumes step tasks, checks
// them against the run's history (a task carries no authority), runs the
// handlers with their timeouts and retries, keeps the shared circuit
// breakers, and records results. workflow.Worker owns one; users never use
// it directly (package steps is their side).
package runner
