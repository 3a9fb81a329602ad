package runner

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// BenchmarkBreakerOutcome is what a breaker costs one attempt through a
// closed breaker on a real embedded JetStream: admit and report, from four
// workers with 16 attempts each in flight on one breaker. Every tenth
// outcome is a failure, so under the consecutive rule a success that follows
// a failure writes; under the rate rule every outcome writes, and the
// writers contend on one record. ns/op is wall time per attempt.
func BenchmarkBreakerOutcome(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    steps.BreakerPolicy
	}{
		{"consecutive", steps.BreakerPolicy{FailureThreshold: 1000, ResetTimeout: time.Minute}},
		{"rate", steps.BreakerPolicy{FailureRateThreshold: 0.9, MinimumCalls: 20, Window: 10 * time.Second, ResetTimeout: time.Minute}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := newBreakerWorld(b)
			var bs []*breakers
			for i := range 4 {
				bs = append(bs, w.worker(fmt.Sprintf("w%d", i), nil))
			}
			p := tc.p
			p.Name = "bench-" + tc.name
			var (
				wg   sync.WaitGroup
				next = make(chan int)
			)
			for i := range 64 {
				wg.Go(func() {
					br := bs[i%len(bs)]
					for n := range next {
						permit, refused, err := br.admit(context.Background(), p, time.Minute)
						if err != nil || refused != nil {
							b.Errorf("admit: %v %v", refused, err)
							continue
						}
						o := outcomeSuccess
						if n%10 == 0 {
							o = outcomeFailure
						}
						if err := br.report(context.Background(), permit, o); err != nil {
							b.Errorf("report: %v", err)
						}
					}
				})
			}
			b.ResetTimer()
			for n := range b.N {
				next <- n
			}
			close(next)
			wg.Wait()
		})
	}
}
