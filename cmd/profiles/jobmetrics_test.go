package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/pgtest"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
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
	ctx := context.Background()
	c := newJobCollector(pool)
	jobs := func() int64 {
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
	before := jobs()
	if _, err := pool.Exec(ctx, `INSERT INTO river_job (kind, args, max_attempts) VALUES ('metrics_test', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	if n := jobs(); n != before {
		t.Errorf("%d jobs within maxAge of a count of %d, want the kept count", n, before)
	}
	c.mu.Lock()
	c.maxAge = 0
	c.mu.Unlock()
	if n := jobs(); n != before+1 {
		t.Errorf("%d jobs after maxAge, want a new count (%d)", n, before+1)
	}
}
