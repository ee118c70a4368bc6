package profiles

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/internal/fakeclock"
)

// fakeCount is a count that takes cost on a fake clock and answers n.
type fakeCount struct {
	*fakeclock.Clock
	mu    sync.Mutex
	n     int
	cost  time.Duration
	err   error
	calls atomic.Int32
	gate  chan struct{} // when set, a count waits for it before it answers
}

func (f *fakeCount) count(ctx context.Context) (int, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.Advance(f.cost)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.err
}

func newFakeTotals(f *fakeCount) *totals {
	t := newTotals()
	t.now = f.Now
	return t
}

func TestTotalsKeepOnlyCostlyCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), n: 7, cost: time.Millisecond}
	tot := newFakeTotals(f)
	for i := range 3 {
		if n, err := tot.count(ctx, "k", f.count); n != 7 || err != nil {
			t.Fatalf("count %d = %d, %v; want 7", i, n, err)
		}
	}
	if got := f.calls.Load(); got != 3 {
		t.Errorf("a 1 ms count was made %d times for 3 requests, want 3: cheap counts are never kept", got)
	}
	if n := tot.peek("k"); n != 0 {
		t.Errorf("peek = %d after cheap counts, want 0 (nothing kept)", n)
	}
}

// A costly count is served as it is while fresh (4x its cost, at least 1 s), then served while
// one recount runs behind it, and never once older than maxAge.
func TestTotalsFreshThenStaleThenExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), n: 100, cost: 500 * time.Millisecond}
	tot := newFakeTotals(f)
	if n, _ := tot.count(ctx, "k", f.count); n != 100 {
		t.Fatalf("first count = %d, want 100", n)
	}
	f.mu.Lock()
	f.n = 101 // a write lands
	f.mu.Unlock()

	f.Advance(time.Second) // 1 s after the count ended: fresh (kept for 2 s)
	if n, _ := tot.count(ctx, "k", f.count); n != 100 || f.calls.Load() != 1 {
		t.Fatalf("fresh = %d after %d counts; want the kept 100 without a recount", n, f.calls.Load())
	}
	if n := tot.peek("k"); n != 100 {
		t.Errorf("peek = %d, want the kept 100", n)
	}

	f.Advance(time.Second) // 2 s after: stale, one recount runs behind the answer
	f.gate = make(chan struct{})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if n, err := tot.count(ctx, "k", f.count); n != 100 || err != nil {
				t.Errorf("stale = %d, %v; want the kept 100 at once", n, err)
			}
		})
	}
	waitGroup(t, &wg) // the stale answers came without waiting for the recount
	close(f.gate)
	waitCalls(t, f, 2)
	waitKept(t, tot, 101)
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d counts; want one recount for five stale requests", got)
	}

	f.gate = nil
	f.Advance(10 * time.Second) // far past maxAge: wait for a new count
	if n := tot.peek("k"); n != 0 {
		t.Errorf("peek = %d past maxAge, want 0: an expired count is no hint", n)
	}
	f.mu.Lock()
	f.n = 102
	f.mu.Unlock()
	if n, _ := tot.count(ctx, "k", f.count); n != 102 {
		t.Errorf("expired = %d, want a new count (102)", n)
	}
}

// Requests of one key share one count; one that gives up does not cancel it for the others.
func TestTotalsShareOneCount(t *testing.T) {
	t.Parallel()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), n: 9, cost: time.Second, gate: make(chan struct{})}
	tot := newFakeTotals(f)

	gone, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := tot.count(gone, "k", f.count)
		done <- err
	}()
	waitCalls(t, f, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if n, err := tot.count(context.Background(), "k", f.count); n != 9 || err != nil {
				t.Errorf("shared count = %d, %v; want 9", n, err)
			}
		})
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the request that gave up got %v, want context.Canceled", err)
	}
	time.Sleep(20 * time.Millisecond) // let the eight join the count before it ends
	close(f.gate)
	waitGroup(t, &wg)
	if got := f.calls.Load(); got != 1 {
		t.Errorf("%d counts for 9 requests at once, want 1", got)
	}
	if n := tot.peek("k"); n != 9 {
		t.Errorf("kept %d, want 9", n)
	}
}

func TestTotalsNeverKeepErrors(t *testing.T) {
	t.Parallel()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), cost: time.Second, err: errors.New("postgres is down")}
	tot := newFakeTotals(f)
	if _, err := tot.count(context.Background(), "k", f.count); err == nil {
		t.Fatal("a failed count answered without an error")
	}
	f.err, f.n = nil, 3
	if n, err := tot.count(context.Background(), "k", f.count); n != 3 || err != nil {
		t.Errorf("after a failure = %d, %v; want a new count (3)", n, err)
	}
}

// A count that takes longer than maxAge is still served once it is done.
func TestTotalsKeepLongCounts(t *testing.T) {
	t.Parallel()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), n: 5, cost: 8 * time.Second}
	tot := newFakeTotals(f)
	for range 2 {
		if n, err := tot.count(context.Background(), "k", f.count); n != 5 || err != nil {
			t.Fatalf("count = %d, %v; want 5", n, err)
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("%d counts of 8 s for two requests in a row, want 1", got)
	}
}

// Counts of many keys at once take at most countSlots connections; the rest wait their turn.
func TestTotalsBoundConcurrentCounts(t *testing.T) {
	t.Parallel()
	f := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0)), n: 1, cost: time.Second, gate: make(chan struct{})}
	tot := newFakeTotals(f)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := tot.count(context.Background(), string(rune('a'+i)), f.count); err != nil {
				t.Errorf("count: %v", err)
			}
		})
	}
	waitCalls(t, f, countSlots)
	time.Sleep(20 * time.Millisecond) // time for any count past the bound to begin
	if got := f.calls.Load(); got != countSlots {
		t.Errorf("%d counts running at once, want at most %d", got, countSlots)
	}
	close(f.gate)
	waitGroup(t, &wg)
	if got := f.calls.Load(); got != 6 {
		t.Errorf("%d counts in all, want one per key (6)", got)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("requests still waiting after 5 s")
	}
}

func waitCalls(t *testing.T, f *fakeCount, n int32) {
	t.Helper()
	eventually(t, func() bool { return f.calls.Load() >= n }, "%d counts began, want %d", f.calls.Load, n)
}

func waitKept(t *testing.T, tot *totals, n int) {
	t.Helper()
	eventually(t, func() bool { return tot.peek("k") == n }, "kept %d, want %d", func() int { return tot.peek("k") }, n)
}

// eventually waits up to 5 s for cond, then fails with format, got() and want.
func eventually[G, W any](t *testing.T, cond func() bool, format string, got func() G, want W) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf(format, got(), want)
		}
	}
}
