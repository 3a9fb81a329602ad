package cron

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"time"
)

// Jitter returns how long to delay the tick of the schedule id at nominal:
// a duration in [0, Spec.Jitter), 0 when the spec has none. It is derived
// from a hash of id and nominal only, so every worker, on any machine or
// version, computes the same delay for the same tick, and delays spread
// evenly from tick to tick and from schedule to schedule.
func (s *Schedule) Jitter(id string, nominal time.Time) time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	// SHA-256 rather than a faster hash: it is fixed by a standard, and
	// its bits are uniform even for ticks a second apart.
	msg := binary.BigEndian.AppendUint64([]byte(id), uint64(nominal.Unix()))
	msg = binary.BigEndian.AppendUint32(msg, uint32(nominal.Nanosecond()))
	sum := sha256.Sum256(msg)
	// The high word of h*jitter is h/2^64 of the way through [0, jitter).
	delay, _ := bits.Mul64(binary.BigEndian.Uint64(sum[:8]), uint64(s.jitter))
	return time.Duration(delay)
}
