package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/profiles"
)

// TestStatsReadsShareQueries: callers that come while every query slot is taken share the next
// query; identical groups share a place in it; a group overlapping a queued one without equalling
// it goes to another query; a caller that gives up gets its own error and leaves the others
// their answers; every answer is what a query of its own would give.
func TestStatsReadsShareQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	insert(t, conn,
		row("a", "m1", t0, 0), row("a", "m2", t0.Add(time.Hour), 0),
		row("b", "m3", t0, 0),
		row("c", "m4", t0.Add(2*time.Hour), 0), row("c", "m1", t0, 0), // m1 again, under c
		row("d", "m5", t0, 0),
	)
	reader := clickhouse.NewEventReader(conn)
	release := clickhouse.HoldStatsSlots(reader)

	type answer struct {
		stats []profiles.EventStats
		err   error
	}
	call := func(ctx context.Context, groups ...[]string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			s, err := reader.Stats(ctx, "proj", groups)
			ch <- answer{s, err}
		}()
		return ch
	}
	// open waits until the read taking callers holds groups groups from callers callers.
	open := func(groups, callers int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			g, c := clickhouse.OpenStatsRead(reader, "proj")
			if g == groups && c == callers {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("open read holds %d groups of %d callers, want %d of %d", g, c, groups, callers)
			}
			time.Sleep(time.Millisecond)
		}
	}

	a := call(ctx, []string{"a"})
	open(1, 1)
	quitter, quit := context.WithCancel(ctx)
	b := call(quitter, []string{"b"})
	open(2, 2)
	sameA := call(ctx, []string{"a"}) // a second Get of the same profile
	open(2, 3)
	ac := call(ctx, []string{"a", "c"})
	open(1, 1) // a and c overlap a queued group without equalling it: a new read
	d := call(ctx, []string{"d"}, []string{"never-seen"})
	open(3, 2)
	quit()
	if got := <-b; !errors.Is(got.err, context.Canceled) {
		t.Errorf("the caller that gave up: err %v, want context.Canceled", got.err)
	}
	release()

	wantOf := func(groups ...[]string) []profiles.EventStats {
		t.Helper()
		own, err := clickhouse.EventStats(ctx, conn, "proj", groups)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]profiles.EventStats, len(own))
		for i, s := range own {
			out[i] = profiles.EventStats{Count: s.Count, First: s.First, Last: s.Last}
		}
		return out
	}
	for _, c := range []struct {
		name   string
		got    chan answer
		groups [][]string
	}{
		{"a", a, [][]string{{"a"}}},
		{"a again", sameA, [][]string{{"a"}}},
		{"a and c", ac, [][]string{{"a", "c"}}},
		{"d", d, [][]string{{"d"}, {"never-seen"}}},
	} {
		got := <-c.got
		if got.err != nil {
			t.Errorf("%s: %v", c.name, got.err)
			continue
		}
		if diff := cmp.Diff(wantOf(c.groups...), got.stats); diff != "" {
			t.Errorf("%s (-own query +shared):\n%s", c.name, diff)
		}
	}
	if n := clickhouse.StatsQueries(reader); n != 2 {
		t.Errorf("%d queries for five callers, want 2", n)
	}
	// {a, c} counts m1 once: the groups of one query never share an id.
	if got := wantOf([]string{"a", "c"}); got[0].Count != 3 {
		t.Errorf("a and c together count %d messages, want 3", got[0].Count)
	}
}

// TestStatsReadsOneQueryPerProject: while a project's query runs, its next callers gather in
// one read that runs after it; another project's reads do not wait for it.
func TestStatsReadsOneQueryPerProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	other := row("b", "m3", t0, 0)
	other.ProjectID = "other"
	insert(t, conn, row("a", "m1", t0, 0), row("c", "m2", t0, 0), other)
	reader := clickhouse.NewEventReader(conn)
	clickhouse.SetStatsPatience(reader, time.Hour) // only release lets proj's next read run
	release := clickhouse.HoldStatsProject(reader, "proj")

	call := func(project string, ids ...string) chan []profiles.EventStats {
		ch := make(chan []profiles.EventStats, 1)
		go func() {
			s, err := reader.Stats(ctx, project, [][]string{ids})
			if err != nil {
				t.Errorf("Stats(%s, %v): %v", project, ids, err)
			}
			ch <- s
		}()
		return ch
	}
	a := call("proj", "a")
	waitOpen(t, reader, "proj", 1, 1)
	if got := receive(t, call("other", "b"), 5*time.Second, "another project's read waited for this one's"); len(got) != 1 || got[0].Count != 1 {
		t.Errorf("other project: %+v, want one event", got)
	}
	c := call("proj", "c")
	waitOpen(t, reader, "proj", 2, 2) // c joined a's read: it is still waiting its turn
	select {
	case <-a:
		t.Fatal("a read ran while its project's previous query was running")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	for name, ch := range map[string]chan []profiles.EventStats{"a": a, "c": c} {
		if got := <-ch; len(got) != 1 || got[0].Count != 1 {
			t.Errorf("%s: %+v, want one event", name, got)
		}
	}
	if n := clickhouse.StatsQueries(reader); n != 2 {
		t.Errorf("%d queries, want 2: one per project", n)
	}
}

// A read whose project's previous query is stuck runs after a while anyway.
func TestStatsReadsDoNotWaitForAStuckQuery(t *testing.T) {
	t.Parallel()
	conn := chtest.New(t)
	insert(t, conn, row("a", "m1", t0, 0))
	reader := clickhouse.NewEventReader(conn)
	release := clickhouse.HoldStatsProject(reader, "proj") // never done while the read waits
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := reader.Stats(context.Background(), "proj", [][]string{{"a"}})
		done <- err
	}()
	if err := receive(t, done, 10*time.Second, "a read still waits for its project's stuck query after 10 s"); err != nil {
		t.Fatal(err)
	}
}

// TestStatsReadsLetTheirFirstCallerGiveUp: the caller that started a read may leave while it
// waits its turn; the read still runs for those who joined it.
func TestStatsReadsLetTheirFirstCallerGiveUp(t *testing.T) {
	t.Parallel()
	reader, release := heldReader(t, row("a", "m1", t0, 0))
	defer release()

	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := reader.Stats(ctx, "proj", [][]string{{"a"}})
		first <- err
	}()
	waitOpen(t, reader, "proj", 1, 1)
	joined := make(chan []profiles.EventStats, 1)
	go func() {
		s, err := reader.Stats(context.Background(), "proj", [][]string{{"a"}})
		if err != nil {
			t.Errorf("the caller that joined: %v", err)
		}
		joined <- s
	}()
	waitOpen(t, reader, "proj", 1, 2)
	if err := receive(t, first, 5*time.Second, "the first caller of a read still waits 5 s past its 50 ms deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the first caller: err %v, want its deadline", err)
	}
	release()
	if got := <-joined; len(got) != 1 || got[0].Count != 1 {
		t.Errorf("the caller that joined: %+v, want one event", got)
	}
}

// TestStatsReadsLeaveOverlappingGroupsAlone: a caller whose own groups overlap gets EventStats'
// refusal at once and alone: it joins no read, so no other caller shares its error.
func TestStatsReadsLeaveOverlappingGroupsAlone(t *testing.T) {
	t.Parallel()
	reader, release := heldReader(t, row("d", "m1", t0, 0))
	defer release()

	good := make(chan error, 1)
	var got []profiles.EventStats
	go func() {
		var err error
		got, err = reader.Stats(context.Background(), "proj", [][]string{{"d"}})
		good <- err
	}()
	waitOpen(t, reader, "proj", 1, 1) // waiting behind the held query
	bad := make(chan error, 1)
	go func() {
		_, err := reader.Stats(context.Background(), "proj", [][]string{{"a", "b"}, {"b", "c"}})
		bad <- err
	}()
	if err := receive(t, bad, 5*time.Second, "a caller with overlapping groups waits for a read"); err == nil {
		t.Error("overlapping groups: no error")
	}
	if g, c := clickhouse.OpenStatsRead(reader, "proj"); g != 1 || c != 1 {
		t.Errorf("the open read holds %d groups of %d callers after the refused caller, want 1 of 1", g, c)
	}
	release()
	if err := <-good; err != nil {
		t.Errorf("the other caller: %v", err)
	} else if len(got) != 1 || got[0].Count != 1 {
		t.Errorf("the other caller: %+v, want one event", got)
	}
}

// A page without profiles asks ClickHouse nothing, and opens no read that others could join.
func TestStatsReadsAskNothingForNoGroups(t *testing.T) {
	t.Parallel()
	reader, release := heldReader(t)
	defer release()
	done := make(chan error, 1)
	go func() {
		got, err := reader.Stats(context.Background(), "proj", nil)
		if err == nil && len(got) != 0 {
			err = fmt.Errorf("figures %+v for no groups", got)
		}
		done <- err
	}()
	if err := receive(t, done, 5*time.Second, "Stats of no groups waits for the project's previous query"); err != nil {
		t.Fatal(err)
	}
	if g, c := clickhouse.OpenStatsRead(reader, "proj"); g != 0 || c != 0 {
		t.Errorf("an open read of %d groups and %d callers after Stats of no groups", g, c)
	}
}

// A query that panics fails its read's callers; it runs outside any request's recovery.
func TestStatsReadsTurnAPanicIntoAnError(t *testing.T) {
	t.Parallel()
	reader := clickhouse.NewEventReader(nil) // EventStats dereferences the nil connection
	if _, err := reader.Stats(context.Background(), "proj", [][]string{{"a"}}); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Stats over a nil connection: err %v, want the panic as an error", err)
	}
}

// heldReader stores rows and returns a reader whose next read of "proj" waits, as behind a
// running query of its project, until release: no sooner, however long that takes.
func heldReader(t *testing.T, rows ...clickhouse.EventRow) (*clickhouse.EventReader, func()) {
	t.Helper()
	conn := chtest.New(t)
	insert(t, conn, rows...)
	reader := clickhouse.NewEventReader(conn)
	clickhouse.SetStatsPatience(reader, time.Hour)
	return reader, clickhouse.HoldStatsProject(reader, "proj")
}

// receive returns what ch yields, failing the test with stuck when nothing comes within d.
func receive[T any](t *testing.T, ch <-chan T, d time.Duration, stuck string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatal(stuck)
		panic("unreachable")
	}
}

func waitOpen(t *testing.T, reader *clickhouse.EventReader, project string, groups, callers int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if g, c := clickhouse.OpenStatsRead(reader, project); g == groups && c == callers {
			return
		}
		if time.Now().After(deadline) {
			g, c := clickhouse.OpenStatsRead(reader, project)
			t.Fatalf("open read of %s holds %d groups of %d callers, want %d of %d", project, g, c, groups, callers)
		}
	}
}
