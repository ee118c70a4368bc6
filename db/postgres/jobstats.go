package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// JobCount is how many River jobs of one queue and kind are in one state.
type JobCount struct {
	Queue, Kind, State string
	Count              int64
}

// JobCounts counts River's jobs by queue, kind and state, so that discarded (poison) jobs and a
// growing backlog show in metrics.
func JobCounts(ctx context.Context, pool *pgxpool.Pool) ([]JobCount, error) {
	rows, err := pool.Query(ctx, `SELECT queue, kind, state::text, count(*) FROM river_job GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("count river jobs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[JobCount])
}

// QueueStats keeps the planner's statistics of the queue tables (River's jobs and the event
// batches waiting for them) in step with their size, as autovacuum would: their rows come and
// go by the thousand a second. An ANALYZE that met one of them nearly empty but spread over many
// pages (after a burst, or the VACUUM ANALYZE an operator runs between loads) leaves a density of
// about nothing per page, which holds while the table fills again: the planner then takes it for
// one row, and River's fetch, joining the jobs it locked back to river_job, reads every job of
// the table for each fetch (31 ms at 4,000 jobs, against 0.23 ms analyzed: Identify ran at
// 1,365/s instead of 3,094 with autovacuum off). The same holds for plans that sessions keep:
// one that ran River's fetch, or the event worker's load and delete, five times on an empty
// table keeps a generic plan that scans every row; an ANALYZE invalidates it. Autovacuum's own
// analyze comes within a minute; without it, nothing else ever does.
type QueueStats struct{ pool *pgxpool.Pool }

// NewQueueStats returns the queue tables' statistics keeper on pool.
func NewQueueStats(pool *pgxpool.Pool) QueueStats { return QueueStats{pool: pool} }

// queueTables are the tables QueueStats keeps.
var queueTables = []string{"river_job", "event_batches"}

// AnalyzeOutgrown analyzes each queue table whose live rows have outgrown what its statistics
// say (more than twice their rows, and a thousand more), and returns the ones it analyzed. A
// table in step costs one catalog read.
func (s QueueStats) AnalyzeOutgrown(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT t FROM unnest($1::text[]) AS t
JOIN pg_stat_user_tables s ON s.relid = to_regclass(t)
JOIN pg_class c ON c.oid = s.relid
WHERE s.n_live_tup > 2 * greatest(c.reltuples, 0) + 1000`, queueTables)
	if err != nil {
		return nil, fmt.Errorf("queue statistics: %w", err)
	}
	outgrown, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("queue statistics: %w", err)
	}
	for _, t := range outgrown {
		if _, err := s.pool.Exec(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize()); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return outgrown, nil
}
