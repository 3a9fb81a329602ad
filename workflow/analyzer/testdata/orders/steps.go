// Package orders holds the analyzer's fixtures: workflow code that uses
// every construct it reports, and code that must not be reported.
package orders

import (
	"context"
	"math/rand"
	"net/http"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

type Order struct {
	ID    string
	Items map[string]int
}

// Step handlers are not workflow code: everything here is what a step is for.
var (
	Reserve = steps.New("Reserve", func(ctx context.Context, sku string) (string, error) {
		start := time.Now()
		time.Sleep(time.Millisecond)
		done := make(chan struct{})
		go func() { close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		}
		if _, err := http.Get("http://inventory.internal/" + sku + "?region=" + os.Getenv("REGION")); err != nil {
			return "", err
		}
		return sku + time.Since(start).String() + string(rune('a'+rand.Intn(26))), nil
	})
	Release = steps.New("Release", release)
	Charge  = steps.New("Charge", func(ctx context.Context, amount int) (string, error) { return "tx", nil })
)

// release is a step handler declared as a function, called by nothing else.
func release(ctx context.Context, id string) (struct{}, error) {
	_, err := os.ReadFile("/var/lib/inventory/" + id)
	return struct{}{}, err
}

// Package initialization is not workflow code.
var loadedAt = time.Now()
