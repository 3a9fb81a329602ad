package embedded

import (
	"errors"
	"fmt"
)

// ErrNotReady is returned when the server did not accept connections within
// Options.ReadyTimeout.
var ErrNotReady = errors.New("embedded: server not ready for connections")

// ErrInsecureListen is returned when the server would listen for clients on
// an address other than loopback without any authentication and
// Options.Insecure is not set.
var ErrInsecureListen = errors.New("embedded: refusing to listen on a non-loopback address without auth")

// ErrInsecureCluster is returned when the route port would listen on an
// address other than loopback without route authentication (a cluster user
// and password, or cluster TLS that verifies the peer's certificate) and
// Options.InsecureCluster is not set: any server that can reach the port
// could join the cluster and its JetStream meta group, and read every stream.
var ErrInsecureCluster = errors.New("embedded: refusing to accept routes on a non-loopback address without cluster authentication")

// ErrInsecureMonitoring is returned when the monitoring port would listen on
// an address other than loopback and Options.InsecureMonitoring is not set.
// nats-server's monitoring endpoint has no authentication of its own: it
// lists connections, subscriptions, streams and consumers to anyone.
var ErrInsecureMonitoring = errors.New("embedded: refusing to serve monitoring on a non-loopback address")

// ErrNoRoutes is returned when cluster mode has no routes: nats-server does
// not start a JetStream cluster without them. Every member lists the route
// addresses of the members (its own is skipped); a first member may list
// only itself, and its JetStream comes up once enough of the others have
// routed to it.
var ErrNoRoutes = errors.New("embedded: a JetStream cluster needs routes to its members")

// ErrStoreLocked is returned by Start (and Restart) when another server, in
// this process or another, holds the store directory. Two servers on one
// store overwrite each other's files and lose data. The error is a
// *StoreLockedError, which names the directory and the holder's PID.
var ErrStoreLocked = errors.New("embedded: store directory in use by another server")

// StoreLockedError says which store directory is locked and by which process.
type StoreLockedError struct {
	// Dir is the store directory.
	Dir string
	// PID is the process holding the lock, 0 when it could not be read (the
	// holder has taken the lock but not written its PID yet).
	PID int
}

func (e *StoreLockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%v: %s (held by another process)", ErrStoreLocked, e.Dir)
	}
	return fmt.Sprintf("%v: %s (held by process %d)", ErrStoreLocked, e.Dir, e.PID)
}

// Unwrap makes errors.Is(err, ErrStoreLocked) true.
func (e *StoreLockedError) Unwrap() error { return ErrStoreLocked }
