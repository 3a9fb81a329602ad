package orders

import (
	"crypto/rand"
	"os"
	"time"

	"example.com/shop/pricing"
	"example.com/thirdparty/clock"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Follow reaches constructs through the functions it calls.
var Follow = workflow.New("Follow", func(ctx workflow.Context, o Order) (int, error) {
	_ = deadline(time.Minute)
	_ = viaTwo()
	var l ledger
	_ = l.stamp()
	workflow.NewSelector(ctx).AddFuture(workflow.NewTimer(ctx, time.Second), onTimer).Select(ctx)
	total := pricing.Quote(10)           // want `^pricing.Quote \(which reaches time.Now at example.com/shop/pricing/pricing.go:23\) in workflow code: use workflow.Now\(ctx\)`
	total += int(pricing.Audited(ctx))   // reported in pricing, where it is written
	total += int(pricing.Allowed())      // allowed by a directive in pricing
	total += int(clock.Stamp())          // another module's code is not followed
	total += pricing.Double(total)       // pure
	total += int(pricing.Table{}.Rate()) // want `^\(pricing.Table\).Rate \(which reaches time.Now at example.com/shop/pricing/pricing.go:\d+\) in workflow code: use workflow.Now\(ctx\)`
	total += pricing.Quote(1)            //jetflow:nondeterministic-ok fixture: a directive at the call allows it
	_ = workflow.SideEffect(ctx, token)  // runs once, recorded
	_ = recursive(3)
	return total, nil
})

func deadline(d time.Duration) time.Time {
	return time.Now().Add(d) // want `^time.Now in workflow code \(deadline, called from Follow\): use workflow.Now\(ctx\)`
}

func viaTwo() string { return viaOne() }

func viaOne() string {
	return os.Getenv("HOME") // want `^os.Getenv in workflow code \(viaOne, called from Follow\)`
}

type ledger struct{}

func (l *ledger) stamp() int64 {
	return time.Now().Unix() // want `^time.Now in workflow code \(\(\*ledger\).stamp, called from Follow\)`
}

// onTimer is not called but passed as a selector callback: it runs in the
// workflow.
func onTimer() {
	time.Sleep(time.Second) // want `^time.Sleep in workflow code \(onTimer, called from Follow\)`
}

// token runs only inside SideEffect.
func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return time.Now().String() + string(b)
}

func recursive(n int) int {
	if n == 0 {
		return int(time.Now().Unix()) // want `^time.Now in workflow code \(recursive, called from Follow\)`
	}
	return recursive(n - 1)
}

// notWorkflow is called by no workflow: nothing in it is reported, nor in
// the function it calls.
func notWorkflow() {
	_ = deadline(time.Hour)
	_ = time.Now()
	go notWorkflow()
}

// Service holds workflows as methods.
type Service struct{ region string }

// Run is workflow code: a method with a workflow.Context parameter.
func (s *Service) Run(ctx workflow.Context, o Order) (string, error) {
	return s.region + os.Getenv("ZONE"), nil // want `^os.Getenv in workflow code: do I/O`
}

// Register builds a workflow inside a function that is not workflow code.
func Register(region string) *workflow.Definition[Order, string] { // want Register:"reaches time.Now"
	_ = time.Now() // not workflow code
	s := &Service{region: region}
	_ = workflow.New("ServiceRun", s.Run)
	return workflow.New("Inner", func(ctx workflow.Context, o Order) (string, error) {
		time.Sleep(time.Second) // want `^time.Sleep in workflow code: use workflow.Sleep`
		defer func() {
			_ = time.Now() // want `^time.Now in workflow code: use workflow.Now`
		}()
		return region + innerHelper(), nil
	})
}

func innerHelper() string {
	return os.Getenv("ZONE") // want `^os.Getenv in workflow code \(innerHelper, called from workflow "Inner"\)`
}
