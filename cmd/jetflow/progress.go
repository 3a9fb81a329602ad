package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress draws one live line on a terminal ("engine 1200/5000 24%") and
// prints plain lines every few seconds when stderr is not a terminal.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	tty     bool
	label   string
	total   int
	last    time.Time
	started time.Time
}

func newProgress(w io.Writer, on bool) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, on: on, tty: tty}
}

func (p *progress) start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.started, p.last = total, time.Now(), time.Time{}
}

func (p *progress) tick(done int) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every && done != p.total {
		return
	}
	p.last = time.Now()
	rate := float64(done) / time.Since(p.started).Seconds()
	line := fmt.Sprintf("%s %d/%d %3.0f%%  %.0f/s", p.label, done, p.total, 100*float64(done)/float64(max(p.total, 1)), rate)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p == nil || !p.on || !p.tty {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}
