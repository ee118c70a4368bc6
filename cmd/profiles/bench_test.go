package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/poluruprvn/profiles/bench"
	"github.com/poluruprvn/profiles/db/postgres"
)

// TestBenchRunsEveryScenario drives a real serve with `profiles bench` over both codecs, with a
// request budget, on a small seeded project, and checks what a reader of its JSON relies on:
// every scenario once per codec (baselines and lags once), no errors, rates, latencies and the
// server's memory, ratios to the baselines measured in the same run, and the budget kept.
func TestBenchRunsEveryScenario(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_LOG_LEVEL"] = "warn"
	srv := startServe(t, env, hooks{})
	const budget = 150
	r := mustRun(t, env, "bench", "--url", srv.base, "--clients", "4", "--duration", "400ms",
		"--requests", "150", "--codec", "both", "--seed-profiles", "300", "--seed-events", "3000", "--json")

	start := strings.Index(r.stdout, "\n[")
	if start < 0 {
		t.Fatalf("no JSON results in the output:\n%s", r.stdout)
	}
	var results []bench.Result
	if err := json.Unmarshal([]byte(r.stdout[start:]), &results); err != nil {
		t.Fatalf("results: %v\n%s", err, r.stdout)
	}
	var want, got []string
	for _, name := range bench.Scenarios {
		if name == "pg-upsert" || name == "ch-insert" || strings.HasPrefix(name, "lag-") {
			want = append(want, name)
			continue
		}
		want = append(want, name+"/json", name+"/binary")
	}
	for _, res := range results {
		key := res.Name
		if res.Codec != "" {
			key += "/" + res.Codec
		}
		got = append(got, key)
		switch {
		case res.Errors > 0:
			t.Errorf("%s: %d errors, first: %s", key, res.Errors, res.FirstError)
		case res.PerSecond <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99:
			t.Errorf("%s: rate %.1f/s, p50 %.2f, p99 %.2f, max %.2f ms: want a rate and ordered latencies", key, res.PerSecond, res.P50, res.P99, res.Max)
		case res.ServerRSSMiB <= 0:
			t.Errorf("%s: no server memory reading", key)
		}
		if !strings.HasPrefix(res.Name, "lag-") && res.Requests > budget {
			t.Errorf("%s: %d requests, want at most the budget of %d", key, res.Requests, budget)
		}
		if res.Name == "identify-new" && (res.Baseline != "pg-upsert" || res.Ratio <= 0) {
			t.Errorf("%s: baseline %q ratio %.3f, want its ratio to pg-upsert", key, res.Baseline, res.Ratio)
		}
		if res.Name == "identify-flood" && (res.LoadPerSecond <= 0 || res.LoadUnit != "events" || res.Unit != "requests") {
			t.Errorf("%s: %s/s under %.1f %s/s; want Identify's requests under TrackBatch's events", key, res.Unit, res.LoadPerSecond, res.LoadUnit)
		}
		if strings.HasPrefix(res.Name, "lag-") && (res.LoadPerSecond <= 0 || res.LoadUnit != "requests") {
			t.Errorf("%s: under %.1f %s/s of load; want the load's requests/s", key, res.LoadPerSecond, res.LoadUnit)
		}
		if res.Name == "track-batch" && (res.Baseline != "ch-insert" || res.Ratio <= 0 || res.Unit != "events") {
			t.Errorf("%s: %s/s, baseline %q ratio %.3f, want events/s and its ratio to ch-insert", key, res.Unit, res.Baseline, res.Ratio)
		}
	}
	if !slices.Equal(want, got) {
		t.Errorf("scenarios run:\n  %v\nwant\n  %v", got, want)
	}

	// identify-new means new users in every run of it: each request made a profile of its own,
	// though the lags load the server with the same requests and the codecs repeat them.
	var newUsers int
	for _, res := range results {
		if res.Name == "identify-new" {
			newUsers += res.Requests
		}
	}
	pool, err := postgres.Open(context.Background(), env["PROFILES_DATABASE_URL"], 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var profiles int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM profiles WHERE external_id LIKE '%-identify-new-new-%'`).Scan(&profiles); err != nil {
		t.Fatal(err)
	}
	if profiles != newUsers {
		t.Errorf("identify-new made %d profiles in %d requests, want one each: a run reused another's ids", profiles, newUsers)
	}
}
