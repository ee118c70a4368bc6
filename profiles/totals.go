package profiles

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// totals keeps the counts of broad Lists for a few seconds. Counting the 128,000 matches of a
// trait filter over a million profiles costs Postgres half a second of every core, and every
// page of that List carries the total: 32 clients on one filter made 32 counts at once, and
// each took seconds. With totals kept, clients of one filter share one count, made again at
// most every few seconds. The page already tells users that a write may take a few seconds to
// show in search; a kept total lags writes by no more than its count took plus maxAge.
//
// Counts outlive the requests that start them, so countSlots bounds how many run at once:
// clients that give up, or vary a filter with every request, cannot pile up counts that hold
// every Postgres connection.
//
// Only costly counts are kept: one quicker than costly is made again for every request, so a
// narrow search, a small project and every test that writes and then lists see exact totals.
type totals struct {
	kept   *lru.Cache[string, keptTotal]
	flight singleflight.Group
	slots  chan struct{}
	now    func() time.Time

	costly  time.Duration // counts quicker than this are not kept
	minKeep time.Duration // a kept count is fresh for keepFactor times its cost, within these bounds
	maxKeep time.Duration
	maxAge  time.Duration // a count done longer ago is never served; until then, one recount runs behind it
	timeout time.Duration // of a count, waiting for a slot included
}

type keptTotal struct {
	n                      int
	freshUntil, staleUntil time.Time
}

// keepFactor bounds the share of the machine that recounting one busy filter takes to about
// a fifth: a count that took 0.5 s is kept for 2 s.
const keepFactor = 4

// countSlots is how many counts run at once, each of them with Postgres' parallel workers.
const countSlots = 2

func newTotals() *totals {
	kept, err := lru.New[string, keptTotal](4096)
	if err != nil {
		panic("profiles: newTotals: " + err.Error())
	}
	return &totals{kept: kept, slots: make(chan struct{}, countSlots), now: time.Now, costly: 20 * time.Millisecond,
		minKeep: time.Second, maxKeep: 4 * time.Second, maxAge: 5 * time.Second, timeout: 30 * time.Second}
}

// count returns the total under key, kept or made by count.
func (t *totals) count(ctx context.Context, key string, count func(context.Context) (int, error)) (int, error) {
	if k, ok := t.kept.Get(key); ok {
		now := t.now()
		switch {
		case now.Before(k.freshUntil):
			return k.n, nil
		case now.Before(k.staleUntil):
			t.flight.DoChan(key, t.recount(ctx, key, count)) // behind this answer, at most one at a time
			return k.n, nil
		}
	}
	select {
	case r := <-t.flight.DoChan(key, t.recount(ctx, key, count)):
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(int), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// peek returns the total kept under key while it may be served, or 0.
func (t *totals) peek(key string) int {
	if k, ok := t.kept.Peek(key); ok && t.now().Before(k.staleUntil) {
		return k.n
	}
	return 0
}

// forget drops the total kept under key: the store counted it exactly, so the kept one
// misleads.
func (t *totals) forget(key string) { t.kept.Remove(key) }

// recount makes a count shared by every request waiting for key: it runs on after the request
// that started it is gone, for the others and for the next.
func (t *totals) recount(ctx context.Context, key string, count func(context.Context) (int, error)) func() (any, error) {
	ctx = context.WithoutCancel(ctx)
	return func() (any, error) {
		ctx, cancel := context.WithTimeout(ctx, t.timeout)
		defer cancel()
		select {
		case t.slots <- struct{}{}:
			defer func() { <-t.slots }()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		at := t.now()
		n, err := count(ctx)
		if err != nil {
			return 0, err
		}
		if done := t.now(); done.Sub(at) >= t.costly {
			keep := min(max(keepFactor*done.Sub(at), t.minKeep), t.maxKeep)
			t.kept.Add(key, keptTotal{n: n, freshUntil: done.Add(keep), staleUntil: done.Add(t.maxAge)})
		} else {
			t.kept.Remove(key) // cheap again: count every time
		}
		return n, nil
	}
}
