package clickhouse_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/poluruprvn/profiles/db/clickhouse"
)

// TestMigrationsAreIdempotent pins the rule that makes a crash between a migration's
// statements and its version row harmless: every statement can run twice.
func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	ms, err := clickhouse.Migrations()
	if err != nil {
		t.Fatalf("Migrations: %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	// The one INSERT allowed is a backfill of an aggregate summary, whose states absorb repeats.
	idempotent := regexp.MustCompile(`(?is)^(--[^\n]*\n\s*)*(CREATE (TABLE|DATABASE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS|DROP (TABLE|VIEW|DATABASE) IF EXISTS|INSERT INTO event_stats\s+SELECT)\b`)
	for i, m := range ms {
		if want := fmt.Sprintf("%04d_", i+1); m.Version != i+1 || m.Name[:5] != want {
			t.Errorf("migration %d is %d %q, want version %d named %s...", i, m.Version, m.Name, i+1, want)
		}
		for j, stmt := range m.Statements {
			if !idempotent.MatchString(stmt) {
				t.Errorf("%s statement %d is not CREATE ... IF NOT EXISTS / DROP ... IF EXISTS / the event_stats backfill:\n%s", m.Name, j+1, stmt)
			}
		}
	}
}
