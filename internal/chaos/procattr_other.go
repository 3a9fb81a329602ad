//go:build !linux

package chaos

import "os/exec"

// setParentDeathSignal has no equivalent outside Linux: the harness kills
// its children itself when it ends.
func setParentDeathSignal(*exec.Cmd) {}
