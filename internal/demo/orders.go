package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
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

// RandomOrder draws an order from Mix and returns it with its recipe.
func RandomOrder(rnd *rand.Rand, id string) (OrderInput, Recipe) {
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
	for _, r := range Mix {
		sum += r.Weight
	}
	pick := rnd.IntN(sum)
	for _, r := range Mix {
		if pick < r.Weight {
			r.make(&in)
			return in, r
		}
		pick -= r.Weight
	}
	return in, Mix[0]
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
	Ledger     Counts  `json:"ledger"`
	DurationMS float64 `json:"duration_ms"`
}

// RunOrders runs n random orders drawn with seed, at most concurrency at a
// time, and checks each one's status and effects. progress, when set, is
// called after each order.
func (e *Env) RunOrders(ctx context.Context, n int, seed uint64, concurrency int, progress func(done, total int)) OrdersReport {
	start := time.Now()
	rep := OrdersReport{Orders: n, Seed: seed, ByStatus: map[string]int{}, ByKind: map[string]int{}}
	if concurrency <= 0 {
		concurrency = 32
	}
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type job struct {
		in OrderInput
		r  Recipe
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
				o := e.RunOrder(ctx, "orders", j.in.OrderID, j.in)
				st := o.Status()
				mu.Lock()
				rep.ByStatus[st]++
				rep.ByKind[j.r.Kind]++
				ids[j.in.OrderID] = true
				if o.Err != nil {
					rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (%s): %v", o.WorkflowID, j.r.Kind, o.Err))
				} else if st != j.r.Want {
					rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (%s): %s, want %s", o.WorkflowID, j.r.Kind, st, j.r.Want))
				}
				for _, p := range CheckEffects(st, o.Effects) {
					rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (%s): %s", o.WorkflowID, j.r.Kind, p))
				}
				mu.Unlock()
				if progress != nil {
					progress(int(done.Add(1)), n)
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		in, r := RandomOrder(rnd, e.id("order", fmt.Sprint(i+1)))
		select {
		case jobs <- job{in, r}:
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
	rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return rep
}
