package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
)

func TestMigrateFreshRepeatedConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyURL(t)
	if err := postgres.EnsureDatabase(ctx, url); err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	if err := postgres.EnsureDatabase(ctx, url); err != nil {
		t.Fatalf("EnsureDatabase twice: %v", err)
	}
	pool, err := postgres.Open(ctx, url, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	before, err := postgres.Status(ctx, pool)
	if err != nil {
		t.Fatalf("Status on an empty database: %v", err)
	}
	for _, s := range before {
		if s.Applied {
			t.Errorf("fresh database reports %s %d applied", s.Component, s.Version)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("repeated Migrate: %v", err)
	}

	after, err := postgres.Status(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(after) < 3 {
		t.Fatalf("status lists %d migrations after, %d before", len(after), len(before))
	}
	for _, s := range after {
		if !s.Applied {
			t.Errorf("%s migration %d (%s) not applied", s.Component, s.Version, s.Name)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var files int
	for _, s := range after {
		if s.Component == "postgres" {
			files++
		}
	}
	if n != files {
		t.Errorf("goose recorded %d applied versions, want %d (each once)", n, files)
	}
}

func TestAutovacuumReadsTheServerSetting(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	var show string
	if err := pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&show); err != nil {
		t.Fatal(err)
	}
	on, err := postgres.Autovacuum(ctx, pool)
	if err != nil || on != (show == "on") {
		t.Errorf("Autovacuum = %v, %v; SHOW autovacuum says %q", on, err, show)
	}
}
