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
