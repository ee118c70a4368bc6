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

// TestJobsPoolPlansForTheTableAsItIs: a session of the ordinary pool that prepared the fetch
// while the job table was empty (vacuumed so, as after a seed) keeps a plan that reads every
// job; a session of the jobs pool plans for the table it finds.
func TestJobsPoolPlansForTheTableAsItIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewURL(t)
	plain, err := postgres.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	jobs, err := postgres.OpenForJobs(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer jobs.Close()
	if _, err := plain.Exec(ctx, `VACUUM ANALYZE river_job`); err != nil {
		t.Fatal(err)
	}

	prepare := func(pool *pgxpool.Pool) *pgxpool.Conn {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, fetchJobs); err != nil {
			t.Fatal(err)
		}
		for range 6 { // past the five custom plans after which Postgres may keep a generic one
			if _, err := conn.Exec(ctx, `EXECUTE fetch_jobs('events', 100)`); err != nil {
				t.Fatal(err)
			}
		}
		return conn
	}
	before, after := prepare(plain), prepare(jobs)
	defer before.Release()
	defer after.Release()

	// Ten minutes of completed jobs, and a few waiting.
	if _, err := plain.Exec(ctx, `INSERT INTO river_job (args, kind, queue, state, finalized_at)
		SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 50000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Exec(ctx, `INSERT INTO river_job (args, kind, queue, state)
		SELECT '{}', 'event_batch', 'events', 'available' FROM generate_series(1, 200)`); err != nil {
		t.Fatal(err)
	}

	plan := func(conn *pgxpool.Conn) string {
		rows, err := conn.Query(ctx, `EXPLAIN EXECUTE fetch_jobs('events', 100)`)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	if p := plan(before); !strings.Contains(p, "Seq Scan on river_job") {
		t.Errorf("the ordinary pool's session no longer keeps the empty table's plan; this test shows nothing:\n%s", p)
	}
	if p := plan(after); !strings.Contains(p, "river_job_prioritized_fetching_index") {
		t.Errorf("the jobs pool's session does not fetch through River's index:\n%s", p)
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
	// statistics now say one row over hundreds of pages.
	exec(`INSERT INTO river_job (args, kind, queue, state, finalized_at)
		SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 50000)`)
	exec(`DELETE FROM river_job WHERE id < (SELECT max(id) FROM river_job)`)
	exec(`VACUUM ANALYZE river_job`)
	// The next load fills those pages again.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO river_job (args, kind, queue, state, finalized_at)
			SELECT '{}', 'event_batch', 'events', 'completed', now() FROM generate_series(1, 20000)`,
		`INSERT INTO river_job (args, kind, queue, state) SELECT '{}', 'event_batch', 'events', 'available' FROM generate_series(1, 200)`,
		`SELECT pg_stat_force_next_flush()`, // the live count the keeper reads
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	conn.Release()

	plan := func() string {
		t.Helper()
		rows, err := pool.Query(ctx, completeJobs)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	const lookup = "Index Cond: (id = locked_jobs.id)"
	if p := plan(); strings.Contains(p, lookup) {
		t.Fatalf("the stale statistics no longer mislead the fetch; this test shows nothing:\n%s", p)
	}

	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) { // the statistics flush reaches readers soon after
		if got, err = stats.AnalyzeOutgrown(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(got, []string{"river_job"}) {
		t.Fatalf("AnalyzeOutgrown = %v, want [river_job]", got)
	}
	if p := plan(); !strings.Contains(p, lookup) {
		t.Errorf("after the analyze, the fetch still does not look up the jobs it locked:\n%s", p)
	}
	if got, err := stats.AnalyzeOutgrown(ctx); err != nil || len(got) != 0 {
		t.Errorf("AnalyzeOutgrown right after = %v, %v; want nothing", got, err)
	}
}
