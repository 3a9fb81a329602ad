package demo

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Recipe is one kind of random order and the status it must end with.
type Recipe struct {
	Kind   string
	Weight int
	Want   string
	make   func(in *OrderInput)
}

// Mix is the failure mix of random orders: mostly healthy orders, and every
// failure the scenarios show.
var Mix = []Recipe{
	{Kind: "healthy", Weight: 60, Want: StatusCompleted, make: func(*OrderInput) {}},
	{Kind: "invalid", Weight: 6, Want: StatusValidationFailed, make: func(in *OrderInput) { in.TotalAmount += 1 }},
	{Kind: "sold_out", Weight: 6, Want: StatusOutOfStock, make: func(in *OrderInput) { in.Items[0].ProductID = SoldOutPrefix + "-" + in.Items[0].ProductID }},
	{Kind: "flaky_inventory", Weight: 8, Want: StatusCompleted, make: func(in *OrderInput) { in.Faults = append(in.Faults, FaultInventoryFlaky) }},
	{Kind: "declined", Weight: 6, Want: StatusPaymentFailed, make: func(in *OrderInput) { in.UserID = BrokeUserPrefix + "-" + in.UserID }},
	{Kind: "shipping_down", Weight: 6, Want: StatusShipmentFailed, make: func(in *OrderInput) { in.Faults = append(in.Faults, FaultShippingDown) }},
	{Kind: "primary_down", Weight: 8, Want: StatusCompleted, make: func(in *OrderInput) { in.Faults = append(in.Faults, FaultPrimaryDown) }},
}

var products = []struct {
	id    string
	price float64
}{{"SKU-KEYBOARD", 89.90}, {"SKU-MOUSE", 24.50}, {"SKU-CABLE", 5.05}, {"SKU-MONITOR", 219.00}, {"SKU-HEADSET", 59.99}}

// DefaultPrimaryDown is the percentage of Mix's orders whose primary
// payment channel is down.
const DefaultPrimaryDown = 8

// MixWithPrimaryDown returns Mix with pct percent of the orders (0 to 68)
// having the primary payment channel down, taken from or given to the
// healthy ones, so that every other kind keeps its share.
func MixWithPrimaryDown(pct int) ([]Recipe, error) {
	mix := slices.Clone(Mix)
	h := slices.IndexFunc(mix, func(r Recipe) bool { return r.Kind == "healthy" })
	d := slices.IndexFunc(mix, func(r Recipe) bool { return r.Kind == "primary_down" })
	pool := mix[h].Weight + mix[d].Weight
	if pct < 0 || pct > pool {
		return nil, fmt.Errorf("demo: %d %% of orders with the primary channel down: want 0 to %d", pct, pool)
	}
	mix[h].Weight, mix[d].Weight = pool-pct, pct
	return mix, nil
}

// RandomOrder draws an order from Mix and returns it with its recipe.
func RandomOrder(rnd *rand.Rand, id string) (OrderInput, Recipe) {
	return randomOrder(rnd, id, Mix)
}

func randomOrder(rnd *rand.Rand, id string, mix []Recipe) (OrderInput, Recipe) {
	in := OrderInput{OrderID: id, UserID: fmt.Sprintf("user-%d", rnd.IntN(1000)), ShippingAddress: fmt.Sprintf("%d Example Road, Springfield", 1+rnd.IntN(200))}
	var total float64
	for i, n := 0, 1+rnd.IntN(3); i < n; i++ {
		p := products[rnd.IntN(len(products))]
		q := 1 + rnd.IntN(3)
		in.Items = append(in.Items, OrderItem{ProductID: p.id, Quantity: q, Price: p.price})
		total += float64(q) * p.price
	}
	in.TotalAmount = float64(int64(total*100+0.5)) / 100
	sum := 0
	for _, r := range mix {
		sum += r.Weight
	}
	pick := rnd.IntN(sum)
	for _, r := range mix {
		if pick < r.Weight {
			r.make(&in)
			return in, r
		}
		pick -= r.Weight
	}
	return in, mix[0]
}

// OrdersReport sums up a batch of random orders.
type OrdersReport struct {
	Orders   int            `json:"orders"`
	Seed     uint64         `json:"seed"`
	ByStatus map[string]int `json:"by_status"`
	ByKind   map[string]int `json:"by_kind"`
	// Unexpected lists the orders that ended otherwise than their recipe
	// says, or whose ledger effects do not match their status.
	Unexpected []string `json:"unexpected,omitempty"`
	// Ledger counts the effects of these orders.
	Ledger Counts `json:"ledger"`
	// Payment is how the charges split between the channels, and what the
	// primary channel's breaker did meanwhile.
	Payment PaymentReport `json:"payment"`
	// Talk counts the cancels and 3-D Secure answers sent to the orders.
	Talk       TalkReport `json:"talk"`
	DurationMS float64    `json:"duration_ms"`
}

// PaymentReport is the primary channel's breaker over a batch of orders.
type PaymentReport struct {
	// Breaker is the breaker's policy (BreakerConsecutive or BreakerRate)
	// and Policy says it in words.
	Breaker string `json:"breaker"`
	Policy  string `json:"policy"`
	// PrimaryDownPercent is the share of orders drawn with the primary
	// channel down.
	PrimaryDownPercent int `json:"primary_down_percent"`
	// Opens is how often the breaker opened during the orders (from its
	// record; -1 when the record could not be read).
	Opens int `json:"opens"`
	// FallbackShare is the fallback channel's share of the charges, 0 to 1.
	FallbackShare float64 `json:"fallback_share"`
}

// OrdersOptions says how RunOrders draws and runs its orders. The zero value
// runs Mix, 32 at a time, behind the document's breaker, with
// DefaultCancelPercent of the orders canceled at a random point and
// Default3DSPercent requiring 3-D Secure.
type OrdersOptions struct {
	Seed        uint64
	Concurrency int
	// CancelPercent and ThreeDSPercent, when set, are the percentages (0 to
	// 100) of orders canceled at a random point and of orders requiring 3-D
	// Secure; nil means the defaults.
	CancelPercent  *int
	ThreeDSPercent *int
	// PrimaryDown, when set, is the percentage of orders with the primary
	// payment channel down (see MixWithPrimaryDown); nil keeps Mix's.
	PrimaryDown *int
	// Breaker is the primary channel's breaker policy for these orders.
	Breaker string
	// Progress, when set, is called after each order.
	Progress func(done, total int)
}

// RunOrders runs n random orders, checks each one's status and effects, and
// reports how the charges split between the payment channels.
func (e *Env) RunOrders(ctx context.Context, n int, opts OrdersOptions) (OrdersReport, error) {
	start := time.Now()
	seed, concurrency, progress := opts.Seed, opts.Concurrency, opts.Progress
	rep := OrdersReport{Orders: n, Seed: seed, ByStatus: map[string]int{}, ByKind: map[string]int{}}
	mix := Mix
	if opts.PrimaryDown != nil {
		var err error
		if mix, err = MixWithPrimaryDown(*opts.PrimaryDown); err != nil {
			return rep, err
		}
	}
	if opts.Breaker != "" && !slices.Contains(BreakerPolicies(), opts.Breaker) {
		return rep, fmt.Errorf("demo: breaker policy %q: want one of %s", opts.Breaker, strings.Join(BreakerPolicies(), ", "))
	}
	cancelPct, threeDSPct := DefaultCancelPercent, Default3DSPercent
	for _, o := range []struct {
		what string
		pct  *int
		into *int
	}{{"canceled", opts.CancelPercent, &cancelPct}, {"requiring 3-D Secure", opts.ThreeDSPercent, &threeDSPct}} {
		if o.pct == nil {
			continue
		}
		if *o.pct < 0 || *o.pct > 100 {
			return rep, fmt.Errorf("demo: %d %% of orders %s: want 0 to 100", *o.pct, o.what)
		}
		*o.into = *o.pct
	}
	rep.Talk = TalkReport{CancelPercent: cancelPct, ThreeDSPercent: threeDSPct, TooLate: map[string]int{}}
	policy := cmp.Or(opts.Breaker, BreakerConsecutive)
	rep.Payment = PaymentReport{Breaker: policy, Policy: DescribeBreaker(policy), PrimaryDownPercent: primaryDownPercent(mix)}
	opensBefore := e.breakerOpens(ctx)
	if concurrency <= 0 {
		concurrency = 32
	}
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	talkRnd := rand.New(rand.NewPCG(seed^0x7a1c, seed))
	type job struct {
		in OrderInput
		r  Recipe
		t  talk
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var done atomic.Int64
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				o := e.runOrder(ctx, "orders", j.in.OrderID, j.in, j.t.act(e, j.in.OrderID))
				st := o.Status()
				mu.Lock()
				rep.ByStatus[st]++
				rep.ByKind[j.r.Kind]++
				j.t.count(&rep.Talk, o)
				ids[j.in.OrderID] = true
				kind := j.r.Kind
				if j.t.answer != "" {
					kind += ", 3-D Secure " + j.t.answer
				}
				if j.t.cancel {
					kind += fmt.Sprintf(", canceled after %s", j.t.after.Round(time.Millisecond))
				}
				if o.Err != nil {
					rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (%s): %v", o.WorkflowID, kind, o.Err))
				}
				for _, p := range j.t.check(j.r, o) {
					rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (%s): %s", o.WorkflowID, kind, p))
				}
				mu.Unlock()
				if progress != nil {
					progress(int(done.Add(1)), n)
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		in, r := randomOrder(rnd, e.id("order", fmt.Sprint(i+1)), mix)
		in.Breaker = opts.Breaker
		t := drawTalk(talkRnd, &in, cancelPct, threeDSPct)
		select {
		case jobs <- job{in, r, t}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if effects, err := e.Services.Ledger.Effects(ctx); err == nil {
		var mine []Effect
		for id := range ids {
			mine = append(mine, ForOrder(effects, id)...)
		}
		rep.Ledger = Count(mine)
	}
	sort.Strings(rep.Unexpected)
	if l := rep.Ledger; l.ChargedPrimary+l.ChargedFallback > 0 {
		rep.Payment.FallbackShare = float64(l.ChargedFallback) / float64(l.ChargedPrimary+l.ChargedFallback)
	}
	rep.Payment.Opens = -1
	if opensBefore >= 0 {
		if after := e.breakerOpens(ctx); after >= 0 {
			rep.Payment.Opens = after - opensBefore
		}
	}
	rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}

func primaryDownPercent(mix []Recipe) int {
	sum, down := 0, 0
	for _, r := range mix {
		sum += r.Weight
		if r.Kind == "primary_down" {
			down = r.Weight
		}
	}
	return 100 * down / sum
}

// breakerOpens reads how often the primary breaker has opened since its
// record was created or reset: 0 with no record, -1 when it cannot be read.
func (e *Env) breakerOpens(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	all, err := e.Client.Breakers(ctx)
	if err != nil {
		return -1
	}
	for _, b := range all {
		if b.Name == PrimaryBreakerName {
			return b.Opens
		}
	}
	return 0
}
