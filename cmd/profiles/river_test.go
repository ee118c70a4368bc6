package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeKeepsTheJobTableAnalyzed: serve's periodic job analyzes a job table that outgrew the
// statistics an ANALYZE of its emptier self left (postgres.QueueStats says why it matters;
// its tests show the plans).
func TestServeKeepsTheJobTableAnalyzed(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["PROFILES_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`ALTER TABLE river_job SET (autovacuum_enabled = false)`, // only serve analyzes
		`VACUUM ANALYZE river_job`,                               // analyzed empty,
		`INSERT INTO river_job (args, kind, queue, state, finalized_at)
			SELECT '{}', 'test_done', 'default', 'completed', now() FROM generate_series(1, 5000)`, // then filled
		`SELECT pg_stat_force_next_flush()`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	rows := func() float64 {
		var n float64
		if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'river_job'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n > 10 {
		t.Fatalf("the statistics say %v jobs before serve starts, want none; the test shows nothing", n)
	}
	startServe(t, env, hooks{})
	waitFor(t, "serve to analyze river_job", 30*time.Second, func() bool { return rows() >= 5_000 })
}
