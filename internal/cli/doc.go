// Package cli holds the command-line pieces that every jetflow binary
// shares: the jetflow command itself and the worker binaries users build
// with package workflow/workerapp. The NATS connection flags and their
// secrets, the stream limits, slog set-up, argument parsing and the usage
// error that makes a command exit with status 2 live here, so that a user's
// worker takes exactly the flags `jetflow worker` takes.
//
// Nothing here is part of jetflow's public API.
package cli
