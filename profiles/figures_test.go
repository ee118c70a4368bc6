package profiles

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingEvents answers Stats with a count per group that grows with every read, and records
// which groups it was asked for, so a test sees whether an answer came from the cache.
type countingEvents struct {
	Events
	reads  int
	asked  [][]string
	during func() // runs inside each read, before it answers
}

func (e *countingEvents) Stats(_ context.Context, _ string, groups [][]string) ([]EventStats, error) {
	e.reads++
	e.asked = append(e.asked, groups...)
	if e.during != nil {
		e.during()
	}
	out := make([]EventStats, len(groups))
	for i := range groups {
		out[i] = EventStats{Count: uint64(e.reads), First: time.Unix(1, 0), Last: time.Unix(2, 0)}
	}
	return out, nil
}

func TestFigureCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const project = "proj_a"
	alice, bob := []string{"a1", "alice"}, []string{"bob"}

	setup := func(t *testing.T) (*FigureCache, *countingEvents, Events) {
		cache := NewFigureCache(100)
		cache.SetLive(true)
		inner := &countingEvents{}
		return cache, inner, cache.Wrap(inner)
	}
	count := func(t *testing.T, ev Events, groups ...[]string) []uint64 {
		t.Helper()
		stats, err := ev.Stats(ctx, project, groups)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]uint64, len(stats))
		for i, s := range stats {
			out[i] = s.Count
		}
		return out
	}
	want := func(t *testing.T, got []uint64, want ...uint64) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	}

	t.Run("a repeated read is answered from the cache", func(t *testing.T) {
		t.Parallel()
		_, inner, ev := setup(t)
		want(t, count(t, ev, alice), 1)
		want(t, count(t, ev, alice), 1)
		if inner.reads != 1 {
			t.Errorf("event store read %d times, want 1", inner.reads)
		}
	})

	t.Run("only the missed groups are asked for, answers keep their order", func(t *testing.T) {
		t.Parallel()
		_, inner, ev := setup(t)
		want(t, count(t, ev, alice), 1)
		want(t, count(t, ev, bob, alice), 2, 1)
		if diff := cmp.Diff([][]string{alice, bob}, inner.asked); diff != "" {
			t.Errorf("groups asked for (-want +got):\n%s", diff)
		}
	})

	t.Run("an announced id drops the groups holding it, and only those", func(t *testing.T) {
		t.Parallel()
		cache, _, ev := setup(t)
		want(t, count(t, ev, alice, bob), 1, 1)
		cache.Invalidate([]uint32{SubjectHash(project, "a1")})
		want(t, count(t, ev, alice, bob), 2, 1)
		want(t, count(t, ev, alice, bob), 2, 1)
	})

	t.Run("an announcement of another project's id changes nothing", func(t *testing.T) {
		t.Parallel()
		cache, _, ev := setup(t)
		want(t, count(t, ev, alice), 1)
		if SubjectHash("proj_b", "a1")%figureBuckets == SubjectHash(project, "a1")%figureBuckets {
			t.Fatal("test ids share a bucket; pick others")
		}
		cache.Invalidate([]uint32{SubjectHash("proj_b", "a1")})
		want(t, count(t, ev, alice), 1)
	})

	t.Run("an announcement during the read keeps its answer out of the cache", func(t *testing.T) {
		t.Parallel()
		cache, inner, ev := setup(t)
		inner.during = func() { cache.Invalidate([]uint32{SubjectHash(project, "alice")}) }
		want(t, count(t, ev, alice), 1)
		inner.during = nil
		want(t, count(t, ev, alice), 2)
		want(t, count(t, ev, alice), 2)
	})

	t.Run("another id group is another entry (a merge added an id)", func(t *testing.T) {
		t.Parallel()
		_, _, ev := setup(t)
		want(t, count(t, ev, alice), 1)
		want(t, count(t, ev, append([]string{"a0"}, alice...)), 2)
	})

	t.Run("without a live feed nothing is cached", func(t *testing.T) {
		t.Parallel()
		cache, _, ev := setup(t)
		want(t, count(t, ev, alice), 1)
		cache.SetLive(false)
		want(t, count(t, ev, alice), 2)
		want(t, count(t, ev, alice), 3)
		cache.SetLive(true) // reconnected: starts empty, since announcements may have been missed
		want(t, count(t, ev, alice), 4)
		want(t, count(t, ev, alice), 4)
		if hits, misses := cache.Counts(); hits != 1 || misses != 4 {
			t.Errorf("Counts() = %d hits, %d misses; want 1, 4", hits, misses)
		}
	})

	t.Run("a read across a feed drop is not kept", func(t *testing.T) {
		t.Parallel()
		cache, inner, ev := setup(t)
		inner.during = func() { cache.SetLive(false); cache.SetLive(true) }
		want(t, count(t, ev, alice), 1)
		inner.during = nil
		want(t, count(t, ev, alice), 2)
	})
}

func BenchmarkFigureCacheHit(b *testing.B) {
	cache := NewFigureCache(1000)
	cache.SetLive(true)
	ev := cache.Wrap(&countingEvents{})
	groups := [][]string{{"3f1c9e0a-8d4b-4f6e-9a2c-1b7d5e8f0a3c", "user-123456"}}
	ctx := context.Background()
	if _, err := ev.Stats(ctx, "proj_xgkg27xM8vDPDjQf", groups); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.Stats(ctx, "proj_xgkg27xM8vDPDjQf", groups); err != nil {
			b.Fatal(err)
		}
	}
}
