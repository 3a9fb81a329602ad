// Package kv owns every JetStream key-value bucket jetflow uses and the few
// ways the engine writes to them.
//
// There are three buckets, named from the namespace prefix (default "jetflow"):
//
//	jetflow_runs      one record per workflow run, key = workflow ID
//	jetflow_steps     one result per step, timer or side effect, key = <workflowID>.<seq>
//	jetflow_breakers  one record per circuit breaker, key = breaker name
//
// Values are msgpack. Every write is either create-only ([Create]: the first
// writer wins, later writers get [ErrExists]) or revision-checked ([Update]:
// a writer holding a stale revision gets [ErrConflict]). That is what makes
// redelivered tasks, zombie workers and concurrent replays harmless: a late
// write loses and is discarded instead of overwriting a recorded result.
package kv
