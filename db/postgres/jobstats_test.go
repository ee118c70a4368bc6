package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
)

// fetchJobs is River's fetch (JobGetAvailable) as far as its plan goes.
const fetchJobs = `PREPARE fetch_jobs(text, int) AS
SELECT id FROM river_job
WHERE state = 'available' AND queue = $1 AND scheduled_at <= now()
ORDER BY priority, scheduled_at, id
LIMIT $2 FOR UPDATE SKIP LOCKED`

// TestQueueStatsReplanAKeptFetch: a session that prepared River's fetch while the job table
// was empty (vacuumed so, as after a seed) keeps a generic plan that reads every job, long after
// the table filled; once QueueStats analyzes the table, the same session plans the fetch anew,
// through River's index.
func TestQueueStatsReplanAKeptFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	if _, err := pool.Exec(ctx, `ALTER TABLE river_job SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE river_job`); err != nil {
		t.Fatal(err)
	}
	session, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Release()
	if _, err := session.Exec(ctx, fetchJobs); err != nil {
		t.Fatal(err)
	}
	for range 6 { // past the five custom plans after which Postgres may keep a generic one
		if _, err := session.Exec(ctx, `EXECUTE fetch_jobs('events', 100)`); err != nil {
			t.Fatal(err)
		}
	}

	// Ten minutes of completed jobs, and a few waiting.
	fillQueue(t, pool, "river_job",
		`INSERT INTO river_job (args, kind, queue, state, finalized_at)
			SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 50000)`,
		`INSERT INTO river_job (args, kind, queue, state) SELECT '{}', 'event_batch', 'events', 'available' FROM generate_series(1, 200)`)

	plan := func() string { return explain(t, session, `EXPLAIN EXECUTE fetch_jobs('events', 100)`) }
	if p := plan(); !strings.Contains(p, "Seq Scan on river_job") {
		t.Fatalf("the session no longer keeps the empty table's plan; this test shows nothing:\n%s", p)
	}
	analyzeOutgrown(t, postgres.NewQueueStats(pool), "river_job")
	if p := plan(); !strings.Contains(p, "river_job_prioritized_fetching_index") {
		t.Errorf("after the analyze, the session does not fetch through River's index:\n%s", p)
	}
}

// explain returns the plan EXPLAIN prints for sql, run on q.
func explain(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string) string {
	t.Helper()
	rows, err := q.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// fillQueue runs statements on one session and waits until the shared statistics, which
// QueueStats reads, count the rows they inserted into and deleted from table.
func fillQueue(t *testing.T, pool *pgxpool.Pool, table string, statements ...string) {
	t.Helper()
	ctx := context.Background()
	read := func() (int64, int64) {
		t.Helper()
		var i, d int64
		if err := pool.QueryRow(ctx, `SELECT n_tup_ins, n_tup_del FROM pg_stat_user_tables WHERE relid = to_regclass($1)`, table).Scan(&i, &d); err != nil {
			t.Fatal(err)
		}
		return i, d
	}
	ins, del := read()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, sql := range statements {
		tag, err := conn.Exec(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		if tag.Insert() {
			ins += tag.RowsAffected()
		} else if tag.Delete() {
			del += tag.RowsAffected()
		}
	}
	if _, err := conn.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		i, d := read()
		if i >= ins && d >= del {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s statistics count %d inserted and %d deleted rows after 10 s, want %d and %d", table, i, d, ins, del)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// analyzeOutgrown calls AnalyzeOutgrown until it analyzes table, which it must do within
// seconds (statistics a session flushed reach other sessions soon after).
func analyzeOutgrown(t *testing.T, stats postgres.QueueStats, table string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := stats.AnalyzeOutgrown(context.Background())
		switch {
		case err != nil:
			t.Fatal(err)
		case slices.Equal(got, []string{table}):
			return
		case len(got) > 0 || time.Now().After(deadline):
			t.Fatalf("AnalyzeOutgrown = %v, want [%s]", got, table)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// completeJobs is River's fetch (JobGetAvailable) as far as its join goes: the jobs it locked
// are joined back to river_job to be marked running.
const completeJobs = `EXPLAIN WITH locked_jobs AS (
    SELECT id FROM river_job
    WHERE state = 'available' AND queue = 'events' AND scheduled_at <= now()
    ORDER BY priority, scheduled_at, id
    LIMIT 100 FOR UPDATE SKIP LOCKED)
UPDATE river_job SET state = 'running', attempt = river_job.attempt + 1
FROM locked_jobs WHERE river_job.id = locked_jobs.id`

// TestQueueStatsAnalyzeTheTableAsItIs: a job table analyzed while nearly empty but spread over
// many pages, then filled again, is planned as one row, and the fetch reads every job to find
// the ones it locked; QueueStats notices and analyzes it, and the fetch looks them up.
func TestQueueStatsAnalyzeTheTableAsItIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`ALTER TABLE river_job SET (autovacuum_enabled = false)`) // only the keeper analyzes
	stats := postgres.NewQueueStats(pool)
	if got, err := stats.AnalyzeOutgrown(ctx); err != nil || len(got) != 0 {
		t.Fatalf("AnalyzeOutgrown of empty tables = %v, %v; want nothing", got, err)
	}

	// A burst, its jobs cleaned up but for the last, and the VACUUM ANALYZE between loads: the
	// statistics now say one row over hundreds of pages. The burst's counts must reach the
	// shared statistics before the VACUUM: a session flushes them when it next idles, at most
	// once a second, and a delete counted after the refill below took the live count to zero.
	fillQueue(t, pool, "river_job",
		`INSERT INTO river_job (args, kind, queue, state, finalized_at)
			SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 50000)`,
		`DELETE FROM river_job WHERE id < (SELECT max(id) FROM river_job)`)
	exec(`VACUUM ANALYZE river_job`)
	// The next load fills those pages again.
	fillQueue(t, pool, "river_job",
		`INSERT INTO river_job (args, kind, queue, state, finalized_at)
			SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 20000)`,
		`INSERT INTO river_job (args, kind, queue, state) SELECT '{}', 'event_batch', 'events', 'available' FROM generate_series(1, 200)`)

	plan := func() string { return explain(t, pool, completeJobs) }
	const lookup = "Index Cond: (id = locked_jobs.id)"
	if p := plan(); strings.Contains(p, lookup) {
		t.Fatalf("the stale statistics no longer mislead the fetch; this test shows nothing:\n%s", p)
	}

	analyzeOutgrown(t, stats, "river_job")
	if p := plan(); !strings.Contains(p, lookup) {
		t.Errorf("after the analyze, the fetch still does not look up the jobs it locked:\n%s", p)
	}
	if got, err := stats.AnalyzeOutgrown(ctx); err != nil || len(got) != 0 {
		t.Errorf("AnalyzeOutgrown right after = %v, %v; want nothing", got, err)
	}
}
