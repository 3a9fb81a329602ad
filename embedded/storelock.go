package embedded

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the file in the store directory that a running server
// holds an exclusive lock on, with its PID inside for the error a second
// server gets. The file stays when the server exits; only the lock goes.
const lockFileName = "jetflow.lock"

// errLockHeld is what tryLock returns when another open file holds the lock.
var errLockHeld = errors.New("lock held")

// storeLock is a held lock on a store directory.
type storeLock struct {
	f *os.File
}

// lockStore takes the exclusive lock of dir, creating dir if needed, before
// anything in it is opened. The lock belongs to the open file: the kernel
// drops it when the process dies, however it dies, and a second open of the
// same file, even in this process, cannot take it.
func lockStore(dir string) (*storeLock, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded: creating store directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded: opening the store's lock file: %w", err)
	}
	if err := tryLock(f); err != nil {
		pid := readPID(f)
		_ = f.Close()
		if errors.Is(err, errLockHeld) {
			return nil, &StoreLockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("embedded: locking store directory %s: %w", dir, err)
	}
	l := &storeLock{f: f}
	if err := l.writePID(); err != nil {
		l.release()
		return nil, fmt.Errorf("embedded: writing the store's lock file: %w", err)
	}
	return l, nil
}

// release drops the lock. The PID is cleared first so that nobody reads a
// stale holder from a free lock file. A nil lock is a no-op.
func (l *storeLock) release() {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = unlock(l.f)
	_ = l.f.Close()
}

func (l *storeLock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
