package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
)

// TestSettleTablesMergesParts: after SettleTables, each table a load fills holds one part per
// partition, and the reads answer as before.
func TestSettleTablesMergesParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	for i := range 3 { // three inserts, three parts in each table the events reach
		insert(t, conn, row("anon-1", string(rune('a'+i)), t0.Add(-time.Duration(i)*time.Hour), 0))
	}
	parts := func() map[string]uint64 {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT table, max(n) FROM (
			SELECT table, partition, count() AS n FROM system.parts
			WHERE database = currentDatabase() AND active AND table IN ('events', 'event_stats')
			GROUP BY table, partition) GROUP BY table`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]uint64{}
		for rows.Next() {
			var table string
			var n uint64
			if err := rows.Scan(&table, &n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	if before := parts(); before["events"] < 2 || before["event_stats"] < 2 {
		t.Fatalf("parts before: %v; want several per partition (three inserts)", before)
	}
	if err := clickhouse.SettleTables(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if after := parts(); after["events"] != 1 || after["event_stats"] != 1 {
		t.Errorf("parts after SettleTables: %v; want one per partition", after)
	}
	stats, err := clickhouse.EventStats(ctx, conn, "proj", [][]string{{"anon-1"}})
	if err != nil || stats[0].Count != 3 {
		t.Errorf("EventStats after SettleTables = %+v, %v; want 3 events", stats, err)
	}
}
