package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// pgUpsert is the bound of every write path: single-row autocommit upserts of random keys into
// a scratch table, at the same concurrency as the scenarios, on the same Postgres.
func (r *runner) pgUpsert(ctx context.Context, clients int, d budget) (Result, error) {
	pool := r.deps.Pool
	if pool == nil {
		return Result{}, fmt.Errorf("needs a Postgres connection")
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_upsert (k bigint PRIMARY KEY, v text NOT NULL)`); err != nil {
		return Result{}, err
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_upsert`)
	res := drive(ctx, "pg-upsert", "baseline", clients, d, func(ctx context.Context, client, seq int) (int, error) {
		_, err := pool.Exec(ctx, `INSERT INTO bench_upsert (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
			rand.Int64N(1_000_000), "value")
		return 1, err
	})
	return res, nil
}

// Shape of the ClickHouse baseline: batches as large as the server's event batcher makes them
// (jobs.EventBatcherConfig.MaxRows), from at most chWriters writers: more concurrent inserts
// only make more parts for the same server CPU.
const (
	chBatchRows = 100_000
	chWriters   = 4
)

// chInsert is the bound of the event paths: batch inserts of event-shaped rows into a scratch
// copy of the events table (same columns, engine, partitioning and sorting key), dropped after.
func (r *runner) chInsert(ctx context.Context, clients int, d budget) (Result, error) {
	conn := r.deps.ClickHouse
	if conn == nil {
		return Result{}, fmt.Errorf("needs a ClickHouse connection")
	}
	table := "bench_events_" + strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			return c
		}
		return '_'
	}, strings.ToLower(r.cfg.RunID))
	if err := conn.Exec(ctx, "CREATE TABLE "+table+" AS events"); err != nil {
		return Result{}, fmt.Errorf("create scratch table: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table)
	insert := "INSERT INTO " + table + " (project_id, distinct_id, event, message_id, properties, timestamp, received_at)"
	const props = `{"path":"/pricing","referrer":"google","n":1}`
	writers := min(clients, chWriters)
	res := drive(ctx, "ch-insert", "baseline", writers, d, func(ctx context.Context, client, seq int) (int, error) {
		batch, err := conn.PrepareBatch(ctx, insert)
		if err != nil {
			return 0, err
		}
		defer batch.Close()
		now := time.Now()
		for i := range chBatchRows {
			n := seq*chBatchRows + i
			err := batch.Append(r.cfg.RunID, "visitor-"+strconv.Itoa(client)+"-"+strconv.Itoa(n%10_000), "page_view",
				"m-"+strconv.Itoa(client)+"-"+strconv.Itoa(n), props, now, now)
			if err != nil {
				return 0, err
			}
		}
		return chBatchRows, batch.Send()
	})
	return res, nil
}
