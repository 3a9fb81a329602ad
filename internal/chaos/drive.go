package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// sendTimeout bounds one Signal or Cancel call of the driver.
const sendTimeout = 5 * time.Second

// drive sends the signals and cancellations the runs call for while the
// faults happen: a goroutine per signal or cancel run, which waits for the
// run's start and then plays its part (sendSignals, sendCancel). It
// returns once every one is done.
func drive(ctx context.Context, c *workflow.Client, nc *nats.Conn, runs []*run, seed uint64, windowEnd, deadline time.Time) {
	var wg sync.WaitGroup
	for i, r := range runs {
		if r.shape == nil || r.shape.signals == nil && r.shape.canceler == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-r.started:
			case <-ctx.Done():
				return
			}
			if r.startErr != nil {
				return
			}
			s := &sender{c: c, nc: nc, deadline: deadline}
			if r.shape.signals != nil {
				rnd := rand.New(rand.NewPCG(seed, uint64(i)))
				s.sendSignals(ctx, r, rnd, windowEnd)
			} else {
				s.sendCancel(ctx, r)
			}
		}()
	}
	wg.Wait()
}

// sender sends one run's signals or its cancel through the harness's
// client.
type sender struct {
	c        *workflow.Client
	nc       *nats.Conn
	deadline time.Time
}

// outcome is what the driver can know of one Signal or Cancel call.
type outcome int

const (
	// accepted: the call returned nil, the server stored the message.
	accepted outcome = iota
	// notStored: the server refused it before storing anything (no
	// responders: the stream was not up yet), so sending it again cannot
	// make a second copy.
	notStored
	// maybeStored: the call failed in a way that leaves the store unknown
	// (no ack within the timeout: the publish may have been stored, or
	// may still be, from the client's reconnect buffer).
	maybeStored
	// runClosed: the run had ended; nothing was sent.
	runClosed
)

// send makes one call once the connection is up (a call made while it is
// down would only time out, and be counted maybe stored for nothing), and
// classifies its result.
func (s *sender) send(ctx context.Context, call func(context.Context) error) (outcome, error) {
	for !s.nc.IsConnected() && time.Now().Before(s.deadline) {
		if err := sleepUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return notStored, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, sendTimeout)
	err := call(cctx)
	cancel()
	switch {
	case err == nil:
		return accepted, nil
	case errors.Is(err, workflow.ErrRunClosed):
		return runClosed, err
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders), errors.Is(err, workflow.ErrNotFound):
		// No responders: refused before storing. Not found: the run record
		// read before the publish said so (a server still loading its
		// store); nothing was published.
		return notStored, err
	}
	return maybeStored, err
}
