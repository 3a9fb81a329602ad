package runner

import (
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
)

// The failure-rate window of a shared breaker (see breaker.go): counters in
// the breaker's record, one bucket per tenth of steps.BreakerPolicy.Window, as
// failsafe-go's time-based thresholding keeps them in memory.

// maxWindowBuckets caps the list, whatever clocks and policy changes left in
// it: buckets from a worker whose clock runs ahead, or of another width after
// the policy's window changed.
const maxWindowBuckets = 2 * kv.BreakerWindowBuckets

// addToWindow counts one outcome at now in the bucket it falls in, after
// dropping the buckets that slid out of the window.
func addToWindow(w []kv.BreakerBucket, window time.Duration, now time.Time, failed bool) []kv.BreakerBucket {
	w = slideWindow(w, window, now)
	start := now.Truncate(window / kv.BreakerWindowBuckets).UTC()
	at := func(b kv.BreakerBucket) bool { return b.Start.Equal(start) }
	i := slices.IndexFunc(w, at)
	if i < 0 {
		w = append(w, kv.BreakerBucket{Start: start})
		slices.SortFunc(w, func(a, b kv.BreakerBucket) int { return a.Start.Compare(b.Start) })
		i = slices.IndexFunc(w, at)
	}
	w[i].Calls++
	if failed {
		w[i].Failures++
	}
	if len(w) > maxWindowBuckets {
		w = slices.Delete(w, 0, len(w)-maxWindowBuckets)
	}
	return w
}

// slideWindow drops the buckets that are no longer in the window at now. A
// bucket ahead of now (written by a worker whose clock runs ahead) is kept
// unless no clock could be that far ahead.
func slideWindow(w []kv.BreakerBucket, window time.Duration, now time.Time) []kv.BreakerBucket {
	floor, latest := kv.WindowFloor(now, window), now.Add(maxClockSkew)
	return slices.DeleteFunc(w, func(b kv.BreakerBucket) bool {
		return !b.Start.After(floor) || b.Start.After(latest)
	})
}

// failureRate is failures/calls, 0 for no calls.
func failureRate(failures, calls int) float64 {
	if calls == 0 {
		return 0
	}
	return float64(failures) / float64(calls)
}
