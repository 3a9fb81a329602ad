package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var (
	serverReady  = regexp.MustCompile(`ready: clients connect to (nats://[0-9.:]+)`)
	workerReady  = regexp.MustCompile(`msg="worker running"`)
	readyTimeout = 30 * time.Second
)

// cluster is the processes of one chaos run: a `jetflow server` on a fixed
// loopback port and store, and a fixed number of `jetflow worker` slots,
// each holding its current process.
type cluster struct {
	cfg  *Config
	port int
	url  string

	mu       sync.Mutex
	server   *proc
	servers  int // incarnations, for log names
	workers  []*worker
	finished []*proc // processes killed or stopped, kept for their logs
}

type worker struct {
	slot    int
	gen     int
	p       *proc
	stopped bool // paused with SIGSTOP
}

var errNoWorker = errors.New("chaos: no worker left to pick")

func (w *worker) name() string { return fmt.Sprintf("chaos-w%d-%d", w.slot+1, w.gen) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startCluster(ctx context.Context, cfg *Config) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("chaos: finding a free port: %w", err)
	}
	c := &cluster{cfg: cfg, port: port, url: "nats://127.0.0.1:" + strconv.Itoa(port)}
	if err := c.startServer(ctx); err != nil {
		c.close()
		return nil, err
	}
	for i := range cfg.Workers {
		w := &worker{slot: i}
		c.workers = append(c.workers, w)
		if err := c.startWorker(ctx, w); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// startServer starts (or restarts) the server on the cluster's port and
// store and waits until it accepts clients.
func (c *cluster) startServer(ctx context.Context) error {
	c.mu.Lock()
	c.servers++
	n := c.servers
	c.mu.Unlock()
	p, err := startProc(c.cfg.Binary, fmt.Sprintf("server#%d", n), filepath.Join(c.cfg.Dir, fmt.Sprintf("server-%d.log", n)),
		"server", "--listen", "127.0.0.1:"+strconv.Itoa(c.port), "--data", filepath.Join(c.cfg.Dir, "store"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.server = p
	c.mu.Unlock()
	if _, err := p.waitOutput(ctx, serverReady, readyTimeout); err != nil {
		return err
	}
	return nil
}

// startWorker starts the next process of a worker slot and waits until it serves.
func (c *cluster) startWorker(ctx context.Context, w *worker) error {
	c.mu.Lock()
	w.gen++
	name := w.name()
	c.mu.Unlock()
	p, err := startProc(c.cfg.Binary, name, filepath.Join(c.cfg.Dir, name+".log"),
		"worker", "--nats", c.url, "--name", name, "--ack-wait", c.cfg.AckWait.String(),
		"--latency", c.cfg.Latency.String(), "--drain-timeout", "5s", "--exercise",
		"--sweep-interval", c.cfg.SweepInterval.String(), "--sweep-grace", c.cfg.SweepGrace.String())
	if err != nil {
		return err
	}
	c.mu.Lock()
	w.p, w.stopped = p, false
	c.mu.Unlock()
	_, err = p.waitOutput(ctx, workerReady, readyTimeout)
	return err
}

// pickWorker chooses a running, unpaused worker at random; with keepOne it
// refuses the last unpaused one, so someone always serves.
func (c *cluster) pickWorker(rnd *rand.Rand, keepOne bool) *worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*worker
	for _, w := range c.workers {
		if !w.stopped && !w.p.exited() {
			live = append(live, w)
		}
	}
	if len(live) == 0 || (keepOne && len(live) == 1) {
		return nil
	}
	return live[rnd.IntN(len(live))]
}

// killWorker SIGKILLs the worker's process, reaps it and starts the slot's
// next process.
func (c *cluster) killWorker(ctx context.Context, w *worker) (string, error) {
	if w == nil {
		return "", errNoWorker
	}
	c.mu.Lock()
	p := w.p
	p.killed = true
	c.finished = append(c.finished, p)
	c.mu.Unlock()
	p.kill()
	desc := fmt.Sprintf("SIGKILL worker %s (pid %d)", p.name, p.pid())
	return desc, c.startWorker(ctx, w)
}

// pause SIGSTOPs the worker for d, then SIGCONTs it: tasks it holds pass
// their AckWait and go to other workers while it sleeps, and when it wakes
// it finishes them anyway, as a zombie.
func (c *cluster) pause(ctx context.Context, w *worker, d time.Duration) (string, <-chan struct{}, error) {
	if w == nil {
		return "", nil, errNoWorker
	}
	c.mu.Lock()
	p := w.p
	w.stopped = true
	c.mu.Unlock()
	woke := make(chan struct{})
	if err := p.signal(syscall.SIGSTOP); err != nil {
		c.mu.Lock()
		w.stopped = false
		c.mu.Unlock()
		close(woke)
		return "", woke, fmt.Errorf("chaos: SIGSTOP %s: %w", p.name, err)
	}
	go func() {
		defer close(woke)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		_ = p.signal(syscall.SIGCONT)
		c.mu.Lock()
		w.stopped = false
		c.mu.Unlock()
	}()
	return fmt.Sprintf("SIGSTOP worker %s (pid %d) for %s, then SIGCONT", p.name, p.pid(), d), woke, nil
}

// restartServer SIGKILLs the server, reaps it and starts a new one on the
// same port and store.
func (c *cluster) restartServer(ctx context.Context) (string, error) {
	c.mu.Lock()
	p := c.server
	p.killed = true
	c.finished = append(c.finished, p)
	c.mu.Unlock()
	p.kill()
	desc := fmt.Sprintf("SIGKILL server %s (pid %d), restart on the same store", p.name, p.pid())
	return desc, c.startServer(ctx)
}

// exitedAlone lists the processes that ended without the harness killing
// or stopping them: a crash is a finding, whatever the checks say.
func (c *cluster) exitedAlone() []string {
	var out []string
	for _, p := range c.procs() {
		if p.exited() && !p.killed {
			out = append(out, fmt.Sprintf("%s (pid %d) exited by itself: %v\n%s", p.name, p.pid(), p.err, p.tail(10)))
		}
	}
	return out
}

// stopWorkers ends every worker with SIGTERM (SIGKILL after d).
func (c *cluster) stopWorkers(d time.Duration) {
	c.mu.Lock()
	var ps []*proc
	for _, w := range c.workers {
		if w.p != nil && !w.p.exited() {
			w.p.killed = true
			ps = append(ps, w.p)
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(d) }()
	}
	wg.Wait()
}

// close kills whatever still runs and reaps it.
func (c *cluster) close() {
	c.stopWorkers(10 * time.Second)
	c.mu.Lock()
	s := c.server
	if s != nil && !s.exited() {
		s.killed = true
	}
	c.mu.Unlock()
	if s != nil {
		s.stop(10 * time.Second)
	}
}

// procs lists every process of the run, the ended ones included.
func (c *cluster) procs() []*proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]*proc(nil), c.finished...)
	if c.server != nil {
		out = append(out, c.server)
	}
	for _, w := range c.workers {
		if w.p != nil {
			out = append(out, w.p)
		}
	}
	return out
}
