package clickhouse_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
)

// allNames lists the embedded migrations' names.
func allNames(t *testing.T) []string {
	t.Helper()
	ms, err := clickhouse.Migrations()
	if err != nil {
		t.Fatalf("Migrations: %v", err)
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}

// wantAllApplied fails unless Status reports exactly the embedded migrations, all applied.
func wantAllApplied(t *testing.T, st []clickhouse.MigrationStatus, since time.Time) {
	t.Helper()
	names := allNames(t)
	if len(st) != len(names) {
		t.Fatalf("Status has %d entries %+v, want %d", len(st), st, len(names))
	}
	for i, s := range st {
		if s.Version != i+1 || s.Name != names[i] || !s.Applied {
			t.Errorf("Status[%d] = %+v, want version %d %s applied", i, s, i+1, names[i])
		}
		if s.AppliedAt.Before(since.Add(-2*time.Second)) || s.AppliedAt.After(time.Now().Add(2*time.Second)) {
			t.Errorf("Status[%d].AppliedAt = %v, want about now (%v)", i, s.AppliedAt, since)
		}
	}
}

func TestMigrateFresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.NewEmpty(t)
	start := time.Now()

	applied, err := clickhouse.Migrate(ctx, conn)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if diff := cmp.Diff(allNames(t), applied); diff != "" {
		t.Errorf("Migrate applied (-want +got):\n%s", diff)
	}
	want := []string{"distinct_id_map", "event_stats", "event_stats_mv", "events", "profiles", "schema_migrations"}
	if diff := cmp.Diff(want, tableNames(t, conn)); diff != "" {
		t.Errorf("tables after Migrate (-want +got):\n%s", diff)
	}
	st, err := clickhouse.Status(ctx, conn)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	wantAllApplied(t, st, start)
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t) // migrated once

	applied, err := clickhouse.Migrate(ctx, conn)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(allNames(t))); rows != want {
		t.Errorf("schema_migrations has %d rows after two runs, want %d (one per migration)", rows, want)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.NewEmpty(t)
	start := time.Now()

	const runs = 4
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Go(func() { _, errs[i] = clickhouse.Migrate(ctx, conn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate #%d: %v", i, err)
		}
	}

	// Several runs may have recorded the same version; Status and Migrate read one per version.
	st, err := clickhouse.Status(ctx, conn)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	wantAllApplied(t, st, start)
	applied, err := clickhouse.Migrate(ctx, conn)
	if err != nil || len(applied) != 0 {
		t.Errorf("Migrate after concurrent runs = %v, %v; want nothing applied", applied, err)
	}
	want := []string{"distinct_id_map", "event_stats", "event_stats_mv", "events", "profiles", "schema_migrations"}
	if diff := cmp.Diff(want, tableNames(t, conn)); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
}

// TestMigrateAfterCrash runs a migration's statements without recording it, as a crash
// between the DDL and the version row would leave things; Migrate must finish the job.
func TestMigrateAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.NewEmpty(t)
	ms, err := clickhouse.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range ms[0].Statements {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("run %s by hand: %v", ms[0].Name, err)
		}
	}
	applied, err := clickhouse.Migrate(ctx, conn)
	if err != nil {
		t.Fatalf("Migrate after a crash: %v", err)
	}
	if diff := cmp.Diff(allNames(t), applied); diff != "" {
		t.Errorf("Migrate applied (-want +got):\n%s", diff)
	}
}

func TestStatusOnFreshDatabaseChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.NewEmpty(t)

	st, err := clickhouse.Status(ctx, conn)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	names := allNames(t)
	if len(st) != len(names) {
		t.Fatalf("Status = %+v, want %d pending migrations", st, len(names))
	}
	for i, s := range st {
		want := clickhouse.MigrationStatus{Version: i + 1, Name: names[i]}
		if s != want {
			t.Errorf("Status[%d] = %+v, want %+v", i, s, want)
		}
	}
	if tables := tableNames(t, conn); len(tables) != 0 {
		t.Errorf("Status created tables %v, want none", tables)
	}
}

func TestStatusShowsUnknownVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	// A newer binary recorded a migration this one does not have.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(uint32(999), "0999_future", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	st, err := clickhouse.Status(ctx, conn)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	last := st[len(st)-1]
	if len(st) != len(allNames(t))+1 || last.Version != 999 || last.Name != "0999_future" || !last.Applied {
		t.Errorf("Status = %+v, want the embedded migrations then 999 0999_future applied", st)
	}
}
