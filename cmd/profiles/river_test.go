package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeKeepsTheJobTableAnalyzed: serve's periodic job analyzes a job table that outgrew the
// statistics an ANALYZE of its emptier self left, which would have River's fetch read every job
// (postgres.QueueStats says why).
func TestServeKeepsTheJobTableAnalyzed(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["PROFILES_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	completed := `INSERT INTO river_job (args, kind, queue, state, finalized_at)
		SELECT '{}', 'test_done', 'default', 'completed', now() FROM generate_series(1, $1::int)`
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`ALTER TABLE river_job SET (autovacuum_enabled = false)`, nil}, // only serve analyzes
		{completed, []any{20_000}},                                      // a burst, cleaned up but for its last job,
		{`DELETE FROM river_job WHERE id < (SELECT max(id) FROM river_job)`, nil},
		{`VACUUM ANALYZE river_job`, nil}, // analyzed so: one row over many pages,
		{completed, []any{5_000}},         // then filled again
		{`SELECT pg_stat_force_next_flush()`, nil},
	} {
		if _, err := conn.Exec(ctx, step.sql, step.args...); err != nil {
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
		t.Fatalf("the statistics say %v jobs before serve starts, want about one; the test shows nothing", n)
	}
	startServe(t, env, hooks{})
	waitFor(t, "serve to analyze river_job", 30*time.Second, func() bool { return rows() >= 5_000 })
}
