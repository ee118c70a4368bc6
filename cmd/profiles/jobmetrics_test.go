package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/db/pgtest"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
	"github.com/poluruprvn/profiles/internal/fakeclock"
)

// TestJobMetrics: /metrics reports River's jobs by queue, kind and state, so a projection job
// shows as completed once an Identify's change reached ClickHouse (counted at most every 5 s).
func TestJobMetrics(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	p := createProject(t, env, "metrics")
	srv := startServe(t, env, hooks{})
	client := profilesv1connect.NewProfilesSDKServiceClient(httpClient(t), srv.base)
	if _, err := client.Identify(context.Background(), bearer(&profilesv1.IdentifyRequest{ExternalId: "u1"}, p.SDKKey)); err != nil {
		t.Fatal(err)
	}
	want := `profiles_river_jobs{kind="identity_projection_v2",queue="projection",state="completed"} 1`
	var body string
	waitFor(t, "a completed projection job in /metrics", 20*time.Second, func() bool {
		_, body = get(t, httpClient(t), srv.base+"/metrics")
		return strings.Contains(body, want)
	})
}

// A count serves the scrapes of the next maxAge; then the next scrape counts again.
func TestJobMetricsKeepACountForMaxAge(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c, clock := clockedJobCollector(t, pool)
	before := jobTotal(t, c)
	if _, err := pool.Exec(context.Background(), `INSERT INTO river_job (kind, args, max_attempts) VALUES ('metrics_test', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(c.maxAge - time.Millisecond)
	if n := jobTotal(t, c); n != before {
		t.Errorf("%d jobs within maxAge of a count of %d, want the kept count", n, before)
	}
	clock.Advance(time.Millisecond)
	if n := jobTotal(t, c); n != before+1 {
		t.Errorf("%d jobs after maxAge, want a new count (%d)", n, before+1)
	}
}

// While Postgres stalls, one count runs at a time: a scrape meanwhile gets the previous counts
// at once, and a count that failed is kept for maxAge like any other.
func TestJobMetricsCountOnceWhilePostgresStalls(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	c, clock := clockedJobCollector(t, pool)
	c.timeout = 300 * time.Millisecond
	before := jobTotal(t, c)

	// An exclusive lock on river_job holds every count until the transaction ends.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE river_job IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(c.maxAge)
	stalled := make(chan error, 1)
	go func() {
		_, err := c.current()
		stalled <- err
	}()
	waitFor(t, "a count under way", 5*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.counting != nil
	})
	if n := jobTotal(t, c); n != before { // the lock is held: this cannot have counted
		t.Errorf("a scrape during a count: %d jobs, want the previous count's %d", n, before)
	}
	if err := <-stalled; err == nil {
		t.Fatal("a count behind an exclusive lock succeeded")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.current(); err == nil {
		t.Error("within maxAge of a failed count, a scrape counted again")
	}
	clock.Advance(c.maxAge)
	if n := jobTotal(t, c); n != before {
		t.Errorf("after the stall: %d jobs, want %d", n, before)
	}
}

// A failed count leaves the job gauges out of /metrics and serves every other metric.
func TestMetricsServeWhatTheyCanWhenJobCountsFail(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := newJobCollector(pool)
	pool.Close() // every count now fails
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	rec := httptest.NewRecorder()
	newMetrics(c).handler(logger).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics with failing job counts: %d, body without go_goroutines:\n%.300s", rec.Code, body)
	}
	if strings.Contains(body, "profiles_river_jobs{") {
		t.Error("/metrics reports job counts it could not take")
	}
	if !strings.Contains(logged.String(), "count river jobs") {
		t.Errorf("the failed count is not logged: %q", logged.String())
	}
}

func clockedJobCollector(t *testing.T, pool *pgxpool.Pool) (*jobCollector, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := newJobCollector(pool)
	c.now = clock.Now
	return c, clock
}

// jobTotal is the sum of the collector's counts.
func jobTotal(t *testing.T, c *jobCollector) int64 {
	t.Helper()
	counts, err := c.current()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, jc := range counts {
		n += jc.Count
	}
	return n
}
