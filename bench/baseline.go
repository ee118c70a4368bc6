package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// pgUpsert is the bound of every write path: single-row autocommit upserts of random keys into
// a scratch table, at the same concurrency as the scenarios, on the same Postgres.
func (r *runner) pgUpsert(ctx context.Context, clients int, d time.Duration) (Result, error) {
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
