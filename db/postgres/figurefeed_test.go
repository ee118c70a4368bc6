package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/profiles"
)

// staticEvents answers every group with one event, counting its reads.
type staticEvents struct {
	profiles.Events
	reads int
}

func (e *staticEvents) Stats(_ context.Context, _ string, groups [][]string) ([]profiles.EventStats, error) {
	e.reads++
	return make([]profiles.EventStats, len(groups)), nil
}

// TestFigureFeed: an announcement of more subjects than one NOTIFY carries reaches a listening
// cache whole, and a stopped listener leaves its cache off.
func TestFigureFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	cache := profiles.NewFigureCache(10_000)
	inner := &staticEvents{}
	ev := cache.Wrap(inner)
	l := postgres.NewFigureListener(pool, cache, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.Start()
	defer l.Stop()

	const n = 3000 // three NOTIFYs
	subjects := make([]events.Subject, n)
	groups := make([][]string, n)
	for i := range subjects {
		id := fmt.Sprintf("anon-%d", i)
		subjects[i] = events.Subject{ProjectID: "proj", DistinctID: id}
		groups[i] = []string{id}
	}
	read := func() int {
		t.Helper()
		before := inner.reads
		if _, err := ev.Stats(ctx, "proj", groups); err != nil {
			t.Fatal(err)
		}
		return inner.reads - before
	}
	// The cache turns live once the listener's LISTEN holds; from then on a second read is free.
	deadline := time.Now().Add(10 * time.Second)
	for read(); read() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the cache never became live")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := postgres.NewFigureFeed(pool).EventsStored(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	// Every group must be read again, the last NOTIFY's included.
	last := [][]string{groups[n-1]}
	deadline = time.Now().Add(10 * time.Second)
	for {
		before := inner.reads
		if _, err := ev.Stats(ctx, "proj", last); err != nil {
			t.Fatal(err)
		}
		if inner.reads > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the announcement of the last subjects never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, misses0 := cache.Counts(); read() != 1 {
		t.Errorf("after the announcement, a read of all %d groups did not go to the event store", n)
	} else if _, misses := cache.Counts(); misses-misses0 != n-1 {
		t.Errorf("%d of %d announced groups were read again, want %d (the last one was already)", misses-misses0, n, n-1)
	}

	l.Stop()
	read()
	if read() != 1 {
		t.Error("a stopped listener's cache still answers")
	}
}
