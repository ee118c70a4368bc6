package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request of a scenario; it returns how many units (requests, rows) it did.
type op func(ctx context.Context, client, seq int) (int, error)

// budget bounds one scenario: it ends after d, or once n requests have started (n > 0),
// whichever comes first.
type budget struct {
	d time.Duration
	n int64
}

// drive runs op from clients goroutines, each starting requests until the budget is spent, and
// measures them. A request in flight at the end runs to its end and counts: cutting it off
// would race with the deadline the server enforces itself (Connect sends the context's deadline
// along), and report its answer as an error. Cancelling ctx stops everything at once; what it
// cut off is neither a success nor an error.
func drive(ctx context.Context, name, unit string, clients int, b budget, do op) Result {
	rec := &recorder{}
	start := time.Now()
	stop := start.Add(b.d)
	var started atomic.Int64
	more := func() bool {
		return ctx.Err() == nil && time.Now().Before(stop) && (b.n <= 0 || started.Add(1) <= b.n)
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for seq := 0; more(); seq++ {
				t := time.Now()
				n, err := do(ctx, c, seq)
				if ctx.Err() != nil {
					return
				}
				rec.observe(time.Since(t), n, err)
			}
		})
	}
	wg.Wait()
	return rec.result(name, unit, clients, time.Since(start))
}
