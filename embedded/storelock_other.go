//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package embedded

import "os"

// On systems without flock the store directory is not locked: the lock
// file is written, but a second server on the same store is not stopped.
// jetflow's supported platforms (Linux, macOS, the BSDs) all lock.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
