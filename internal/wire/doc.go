// Package wire is what the workflow and steps packages share about NATS: the
// subject and stream names under a namespace prefix, the task stream and the
// event stream, the workflow-task message, status events and the consumer
// loop. Nothing here is part of jetflow's public API.
package wire
