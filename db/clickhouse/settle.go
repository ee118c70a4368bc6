package clickhouse

import (
	"context"
	"fmt"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// settledTables are the tables a bulk load fills: the read model and the events.
var settledTables = []string{"events", "event_stats", "distinct_id_map", "profiles"}

func optimizeSQL(table string) string { return "OPTIMIZE TABLE " + table + " FINAL" }

// SettleTables merges the parts of every table a bulk load fills into one per partition, as a
// long-lived table's parts end up after background merges. Left alone, the parts of a load are
// merged only once later inserts come: after `profiles seed`, the first write sequence merged
// 655,000 summary rows of event_stats beside itself. It waits for the merges, however long
// they take.
func SettleTables(ctx context.Context, conn driver.Conn) error {
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_execution_time": 0}))
	for _, table := range settledTables {
		if err := conn.Exec(ctx, optimizeSQL(table)); err != nil {
			return fmt.Errorf("clickhouse: optimize %s: %w", table, err)
		}
	}
	return nil
}
