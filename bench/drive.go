package bench

import (
	"context"
	"sync"
	"time"
)

// op is one request of a scenario; it returns how many units (requests, rows) it did.
type op func(ctx context.Context, client, seq int) (int, error)

// drive runs op from clients goroutines until d has passed or ctx ends, and measures it.
func drive(ctx context.Context, name, unit string, clients int, d time.Duration, do op) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	rec := &recorder{}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				t := time.Now()
				n, err := do(ctx, c, seq)
				if ctx.Err() != nil {
					return // cut off by the deadline: neither a success nor an error
				}
				rec.observe(time.Since(t), n, err)
			}
		})
	}
	wg.Wait()
	return rec.result(name, unit, clients, time.Since(start))
}
