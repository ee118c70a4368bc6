package postgres_test

import (
	"context"
	"strings"
	"testing"

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
