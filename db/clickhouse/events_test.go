package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/events"
)

var t0 = time.Date(2025, 3, 31, 23, 59, 0, 0, time.UTC) // a month boundary: copies may sit in two partitions

func row(distinctID, messageID string, ts time.Time, received time.Duration) clickhouse.EventRow {
	return clickhouse.EventRow{
		ProjectID: "proj", DistinctID: distinctID, Event: "Viewed", MessageID: messageID,
		Properties: `{"m":"` + messageID + `"}`, Timestamp: ts, ReceivedAt: ts.Add(received),
	}
}

func insert(t *testing.T, conn driver.Conn, rows ...clickhouse.EventRow) {
	t.Helper()
	if err := clickhouse.InsertEvents(context.Background(), conn, rows); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
}

func TestEventStatsCountsEachMessageOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	insert(t, conn,
		row("anon-1", "m1", t0, 0),
		row("anon-1", "m2", t0.Add(time.Minute), 0), // April: another partition
		row("user-1", "m3", t0.Add(2*time.Hour), 0),
		row("other", "m4", t0, 0),
	)
	// Retries, each its own insert (its own part): the same message id again, once with a new
	// server timestamp (a client without a clock), once under another distinct id of the
	// profile, and once for another project.
	insert(t, conn, row("anon-1", "m1", t0.Add(-time.Hour), 0))                          // older copy: received earlier, loses
	insert(t, conn, row("anon-1", "m2", t0.Add(time.Minute+time.Second), 5*time.Second)) // received last: wins
	insert(t, conn, row("user-1", "m1", t0, 0))                                          // same receive time; user-1 > anon-1 wins the tie
	other := row("anon-1", "m9", t0, 0)
	other.ProjectID = "proj_b"
	insert(t, conn, other)

	// m1, m2 and m3 once each; first and last span every copy received, the older copy of m1
	// included.
	profile := clickhouse.Stats{Count: 3, First: t0.Add(-time.Hour), Last: t0.Add(2 * time.Hour)}
	for _, when := range []string{"before merges", "after OPTIMIZE FINAL"} {
		if when != "before merges" {
			for _, table := range []string{"events", "event_stats"} {
				if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := clickhouse.EventStats(ctx, conn, "proj", [][]string{
			{"anon-1", "user-1", "anon-1", "never-seen"}, // one profile's ids, one repeated
			{"other"},
			{"never-seen-either"},
			{},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []clickhouse.Stats{profile, {Count: 1, First: t0, Last: t0}, {}, {}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("EventStats %s (-want +got):\n%s", when, diff)
		}
		// Alone, each id counts its own copies: m1 under both ids counts for each.
		got, err = clickhouse.EventStats(ctx, conn, "proj", [][]string{{"user-1"}, {"anon-1"}})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Count != 2 || got[1].Count != 2 {
			t.Errorf("%s: user-1 alone counts %d, anon-1 alone %d; want 2 and 2 (m1, m3 and m1, m2)", when, got[0].Count, got[1].Count)
		}
	}

	if got, err := clickhouse.EventStats(ctx, conn, "proj", nil); err != nil || len(got) != 0 {
		t.Errorf("EventStats of no groups = %v, %v; want empty", got, err)
	}
	if _, err := clickhouse.EventStats(ctx, conn, "proj", [][]string{{"anon-1"}, {"anon-1", "user-1"}}); err == nil {
		t.Error("EventStats with an id in two groups succeeded; want an error")
	}
}

func TestEventHistoryPagesNewestFirstOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	// 60 events in groups of 4 sharing one second (the cursor must break ties by message id),
	// spread over two ids and two months, each inserted twice with a later received copy.
	var rows []clickhouse.EventRow
	var want []string
	for i := range 60 {
		id := []string{"anon-1", "user-1"}[i%2]
		mid := fmt.Sprintf("m%03d", i)
		ts := t0.Add(time.Duration(i/4) * 20 * time.Second)
		rows = append(rows, row(id, mid, ts, 0))
		want = append(want, mid)
	}
	insert(t, conn, rows...)
	insert(t, conn, rows...)
	insert(t, conn, row("someone-else", "m999", t0, 0))
	slices.SortFunc(want, func(a, b string) int { // newest first: by second, then message id, descending
		ta, tb := t0.Add(time.Duration(idx(a)/4)*20*time.Second), t0.Add(time.Duration(idx(b)/4)*20*time.Second)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return strings.Compare(b, a)
	})

	for _, limit := range []int{1, 7, 60, 1000} {
		var (
			got    []string
			cursor clickhouse.Cursor
			pages  int
		)
		for {
			page, next, err := clickhouse.EventHistory(ctx, conn, "proj", []string{"user-1", "anon-1"}, cursor, limit)
			if err != nil {
				t.Fatalf("EventHistory: %v", err)
			}
			pages++
			for _, r := range page {
				got = append(got, r.MessageID)
				if r.Properties != `{"m":"`+r.MessageID+`"}` || r.ProjectID != "proj" || r.Event != "Viewed" {
					t.Fatalf("row %+v does not carry its own fields", r)
				}
			}
			if next.IsZero() {
				break
			}
			if len(page) != limit {
				t.Fatalf("a page of %d rows with a next cursor; want full pages (limit %d)", len(page), limit)
			}
			cursor = next
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("limit %d: history (-want +got):\n%s", limit, diff)
		}
		if wantPages := (60 + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages; want %d (no empty last page)", limit, pages, wantPages)
		}
	}

	if _, _, err := clickhouse.EventHistory(ctx, conn, "proj", []string{"a"}, clickhouse.Cursor{}, 0); err == nil {
		t.Error("EventHistory with limit 0 succeeded; want an error")
	}
}

func idx(mid string) int {
	var i int
	fmt.Sscanf(mid, "m%d", &i)
	return i
}

func TestEventHistoryDedupesRetriesWithNewTimestamps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	// A clock-less client retried m1: the second copy got a later server timestamp. Only the
	// winner (the later received copy) is listed, at its own time, on whichever page holds it.
	insert(t, conn, row("anon-1", "m1", t0, 0), row("anon-1", "m2", t0.Add(time.Minute), 0))
	insert(t, conn, row("anon-1", "m1", t0.Add(2*time.Minute), 0))
	var got []string
	for cursor := (clickhouse.Cursor{}); ; {
		page, next, err := clickhouse.EventHistory(ctx, conn, "proj", []string{"anon-1"}, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.MessageID+"@"+r.Timestamp.Format("15:04"))
		}
		if next.IsZero() {
			break
		}
		cursor = next
	}
	if want := []string{"m1@00:01", "m2@00:00"}; !cmp.Equal(want, got) {
		t.Errorf("history = %v; want %v (m1 once, at its winning copy's time)", got, want)
	}
}

func TestEventReadsTakeManyIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	ids := make([]string, clickhouse.MaxEventReadIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("anon-%040d", i) // 10,000 ids of 45 bytes: over the default max_query_size
	}
	insert(t, conn, row(ids[0], "m1", t0, 0), row(ids[len(ids)-1], "m2", t0, 0))
	stats, err := clickhouse.EventStats(ctx, conn, "proj", [][]string{ids})
	if err != nil || len(stats) != 1 || stats[0].Count != 2 {
		t.Fatalf("EventStats of %d ids = %v, %v; want 2 events", len(ids), stats, err)
	}
	page, _, err := clickhouse.EventHistory(ctx, conn, "proj", ids, clickhouse.Cursor{}, 10)
	if err != nil || len(page) != 2 {
		t.Fatalf("EventHistory of %d ids = %d rows, %v; want 2", len(ids), len(page), err)
	}
	if _, err := clickhouse.EventStats(ctx, conn, "proj", [][]string{ids, {"one-more"}}); err == nil {
		t.Errorf("EventStats of %d ids succeeded; want an error past MaxEventReadIDs", len(ids)+1)
	}
}

func TestEventSinkWritesRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	sink := clickhouse.EventSink{Conn: conn}
	rec := events.Record{
		ProjectID: "proj", DistinctID: "anon-1", Name: "Signed Up", MessageID: "m1",
		Properties: []byte(`{"q":"it's \"quoted\" <b>"}`), Timestamp: t0.Add(500 * time.Millisecond), ReceivedAt: t0.Add(time.Second),
	}
	if err := sink.WriteEvents(ctx, []events.Record{rec}); err != nil {
		t.Fatal(err)
	}
	page, _, err := clickhouse.EventHistory(ctx, conn, "proj", []string{"anon-1"}, clickhouse.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []clickhouse.EventRow{{
		ProjectID: "proj", DistinctID: "anon-1", Event: "Signed Up", MessageID: "m1",
		Properties: `{"q":"it's \"quoted\" <b>"}`, Timestamp: t0, ReceivedAt: t0.Add(time.Second),
	}}
	if diff := cmp.Diff(want, page); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}
}

// BenchmarkInsertEvents measures one insert of 10,000 typical events.
func BenchmarkInsertEvents(b *testing.B) {
	conn := chtest.New(b)
	rows := make([]clickhouse.EventRow, 10_000)
	for i := range rows {
		rows[i] = row(fmt.Sprintf("anon-%d", i%1000), fmt.Sprintf("m%d", i), t0, 0)
		rows[i].Properties = `{"plan":"pro","path":"/pricing","referrer":"https://example.com/a?b=c","seats":3,"utm":{"source":"newsletter"}}`
	}
	for b.Loop() {
		if err := clickhouse.InsertEvents(context.Background(), conn, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
