package wire

import (
	"errors"
	"fmt"
)

// ErrNotDeployed matches (errors.Is) every *NotDeployedError.
var ErrNotDeployed = errors.New("jetflow: deployment not set up")

// NotDeployedError is returned by Bind (and by reads that find a bucket
// gone) when a stream or bucket of the namespace does not exist: no worker
// or administrator has set the namespace up, or someone deleted part of
// it. Clients never create them, so a read cannot silently start over with
// an empty bucket.
type NotDeployedError struct {
	Prefix string
	// Kind is "stream" or "bucket".
	Kind string
	Name string
}

func (e *NotDeployedError) Error() string {
	return fmt.Sprintf("jetflow: %s %s not found: no worker has set up this deployment (prefix %s) yet, or it was deleted — start a worker or run `jetflow init --prefix %s`",
		e.Kind, e.Name, e.Prefix, e.Prefix)
}

// Is matches ErrNotDeployed.
func (e *NotDeployedError) Is(target error) bool { return target == ErrNotDeployed }
