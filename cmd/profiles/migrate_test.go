package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/poluruprvn/profiles/db/pgtest"
)

// freshEnv names a Postgres and a ClickHouse database that do not exist yet.
func freshEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"PROFILES_DATABASE_URL":   pgtest.NewEmptyURL(t),
		"PROFILES_CLICKHOUSE_URL": freshClickHouseURL(t),
	}
}

// status runs `migrate status --json` and returns its rows.
func status(t *testing.T, env map[string]string) []migrationRow {
	t.Helper()
	r := mustRun(t, env, "migrate", "status", "--json")
	var rows []migrationRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("migrate status --json: %v\n%s", err, r.stdout)
	}
	return rows
}

// assertAllApplied checks that status lists migrations of every component, all applied.
func assertAllApplied(t *testing.T, rows []migrationRow) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.Component]++
		if !r.Applied {
			t.Errorf("%s migration %d %s is not applied", r.Component, r.Version, r.Name)
		}
	}
	for _, c := range []string{"postgres", "river", "clickhouse"} {
		if seen[c] == 0 {
			t.Errorf("migrate status lists no %s migration: %+v", c, rows)
		}
	}
}

func TestMigrateFreshThenRepeated(t *testing.T) {
	t.Parallel()
	env := freshEnv(t)

	// Before anything exists, status says what to do.
	r := runCLI(t, env, "migrate", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "does not exist") || !strings.Contains(r.stderr, "profiles migrate") {
		t.Errorf("migrate status before migrate: exit %d, stderr %q; want 1 saying the database does not exist", r.code, r.stderr)
	}

	first := mustRun(t, env, "migrate")
	for _, c := range []string{"postgres", "river", "clickhouse"} {
		if !strings.Contains(first.stdout, c+" ") || !strings.Contains(first.stdout, "applied") {
			t.Errorf("first migrate should report %s migrations applied:\n%s", c, first.stdout)
		}
	}
	assertAllApplied(t, status(t, env))

	second := mustRun(t, env, "migrate")
	if strings.Count(second.stdout, "up to date") != 3 {
		t.Errorf("second migrate should find all three components up to date:\n%s", second.stdout)
	}
	table := mustRun(t, env, "migrate", "status").stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if !strings.HasPrefix(lines[0], "COMPONENT") || len(lines) != len(status(t, env))+1 {
		t.Errorf("migrate status should print a header and one line per migration:\n%s", table)
	}
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, " yes") {
			t.Errorf("migrate status line %q: want applied (yes)", l)
		}
	}
}

// TestMigrateConcurrent runs two migrates at once on databases that do not exist: both succeed
// (one waits for the other's advisory lock) and the schema is whole.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	env := freshEnv(t)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Go(func() { results[i] = runCLI(t, env, "migrate") })
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("migrate %d of 2: exit %d\nstdout:\n%s\nstderr:\n%s", i+1, r.code, r.stdout, r.stderr)
		}
	}
	rows := status(t, env)
	assertAllApplied(t, rows)
	seen := map[string]bool{}
	for _, r := range rows {
		key := r.Component + "/" + r.Name
		if seen[key] {
			t.Errorf("migration %s listed twice", key)
		}
		seen[key] = true
	}
}
