package embedded_test

import (
	"errors"
	"os"
	"testing"

	"github.com/jetflow-dev/jetflow/embedded"
)

// Two Starts on one store in one process: the second fails at once with
// the directory and this process's PID; the lock goes with Shutdown and
// comes back with Restart.
func TestOneServerPerStore(t *testing.T) {
	dir := t.TempDir()
	first, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()

	second := func() error {
		t.Helper()
		srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
		if err == nil {
			srv.Shutdown()
		}
		return err
	}
	err = second()
	if !errors.Is(err, embedded.ErrStoreLocked) {
		t.Fatalf("second Start on the same store: got %v, want ErrStoreLocked", err)
	}
	var locked *embedded.StoreLockedError
	if !errors.As(err, &locked) {
		t.Fatalf("got %T, want a *StoreLockedError", err)
	}
	if locked.Dir != dir || locked.PID != os.Getpid() {
		t.Errorf("locked: got dir %q pid %d, want %q and %d", locked.Dir, locked.PID, dir, os.Getpid())
	}

	// A restart takes the lock again.
	if err := first.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := second(); !errors.Is(err, embedded.ErrStoreLocked) {
		t.Fatalf("after Restart: got %v, want ErrStoreLocked", err)
	}

	first.Shutdown()
	if err := second(); err != nil {
		t.Fatalf("after Shutdown, a new server on the store: %v", err)
	}
}
