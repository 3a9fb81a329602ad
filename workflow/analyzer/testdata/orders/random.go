package orders

import (
	crand "crypto/rand"
	"math/rand"
	randv2 "math/rand/v2"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Lottery draws random numbers in every way Go offers.
var Lottery = workflow.New("Lottery", func(ctx workflow.Context, n int) (int, error) {
	a := rand.Intn(n)   // want `^math/rand.Intn in workflow code: draw random values inside workflow.SideEffect\(ctx, func\(\) T {...}\), which records them for replay$`
	b := randv2.IntN(n) // want `^math/rand/v2.IntN in workflow code: draw random values inside workflow.SideEffect`
	buf := make([]byte, 8)
	_, _ = crand.Read(buf)        // want `^crypto/rand.Read in workflow code: draw random values inside workflow.SideEffect`
	_, _ = crand.Reader.Read(buf) // want `^crypto/rand.Reader in workflow code: draw random values inside workflow.SideEffect`
	return a + b + int(buf[0]), nil
})

// Recorded draws inside SideEffect, and from a generator whose seed was
// recorded: nothing to report.
var Recorded = workflow.New("Recorded", func(ctx workflow.Context, n int) (int, error) {
	seed := workflow.SideEffect(ctx, func() int64 { return rand.Int63() })
	r := rand.New(rand.NewSource(seed))
	v2 := randv2.New(randv2.NewPCG(uint64(seed), 1))
	id := workflow.SideEffect(ctx, newID)
	roll := func() int { return rand.Intn(6) }
	dice := workflow.SideEffect(ctx, roll)
	return r.Intn(n) + v2.IntN(n) + len(id) + dice, nil
})

// newID runs only inside SideEffect.
func newID() string {
	buf := make([]byte, 16)
	_, _ = crand.Read(buf)
	return string(buf)
}
