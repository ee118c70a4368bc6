package bench

import (
	"context"
	"sync"
	"time"
)

// op is one request of a scenario; it returns how many units (requests, rows) it did.
type op func(ctx context.Context, client, seq int) (int, error)

// drive runs op from clients goroutines, each starting requests until d has passed, and
// measures them. A request in flight at d runs to its end and counts: cutting it off would
// race with the deadline the server enforces itself (Connect sends the context's deadline
// along), and report its answer as an error. Cancelling ctx stops everything at once; what
// it cut off is neither a success nor an error.
func drive(ctx context.Context, name, unit string, clients int, d time.Duration, do op) Result {
	rec := &recorder{}
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil && time.Now().Before(stop); seq++ {
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
