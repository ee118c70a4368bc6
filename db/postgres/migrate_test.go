package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

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

// indexCatalog reads what migrate's index repair changes.
type indexCatalog struct {
	t    *testing.T
	pool *pgxpool.Pool
}

func (c indexCatalog) exec(sql string) {
	c.t.Helper()
	if _, err := c.pool.Exec(context.Background(), sql); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
}

// invalidate marks an index as a failed concurrent build leaves it.
func (c indexCatalog) invalidate(name string) {
	c.t.Helper()
	c.exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = '` + name + `'::regclass`)
}

// state is "valid", "invalid" or "missing".
func (c indexCatalog) state(name string) string {
	c.t.Helper()
	var valid *bool
	err := c.pool.QueryRow(context.Background(),
		`SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1))`, name).Scan(&valid)
	switch {
	case err != nil:
		c.t.Fatalf("index %s: %v", name, err)
	case valid == nil:
		return "missing"
	case !*valid:
		return "invalid"
	}
	return "valid"
}

// wantRebuilt checks the two indexes the tests invalidate: valid again, and the word index with
// the statistics target its migration gave it.
func (c indexCatalog) wantRebuilt(when string) {
	c.t.Helper()
	for _, name := range []string{"profiles_email", "profiles_search_words"} {
		if got := c.state(name); got != "valid" {
			c.t.Errorf("%s %s %s, want valid", name, got, when)
		}
	}
	var stats int
	err := c.pool.QueryRow(context.Background(),
		`SELECT attstattarget FROM pg_attribute WHERE attrelid = 'profiles_search_words'::regclass AND attnum = 1`).Scan(&stats)
	if err != nil {
		c.t.Fatal(err)
	}
	if stats != 0 {
		c.t.Errorf("profiles_search_words statistics target %d %s, want 0", stats, when)
	}
}

// TestMigrateRebuildsIndexesLeftInvalid: an index a failed CREATE INDEX CONCURRENTLY left
// invalid is built again by the next migrate, whether or not its migration was recorded.
func TestMigrateRebuildsIndexesLeftInvalid(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := indexCatalog{t, pool}
	c.invalidate("profiles_email")        // recorded as applied: a rerun that skipped it
	c.invalidate("profiles_search_words") // not recorded: the build failed, 0010 and later still pending
	c.exec(`DELETE FROM goose_db_version WHERE version_id >= 10`)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	c.wantRebuilt("after migrate")
}

// TestMigrateRepairsIndexesEvenWhenAMigrationFails: the repair runs before any migration, so a
// migrate that fails afterwards leaves the index valid, never dropped.
func TestMigrateRepairsIndexesEvenWhenAMigrationFails(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := indexCatalog{t, pool}
	c.invalidate("profiles_email")
	c.invalidate("profiles_search_words") // its migration recorded: nothing else sets its statistics
	// goose refuses a missing migration below the newest applied one.
	c.exec(`DELETE FROM goose_db_version WHERE version_id = 7`)
	if err := postgres.Migrate(context.Background(), pool); err == nil {
		t.Fatal("Migrate with a missing migration succeeded; the test needs it to fail")
	}
	c.wantRebuilt("after a failed migrate")
}

// TestMigrateDropsWhatAnInterruptedRepairLeft: a REINDEX CONCURRENTLY that died leaves its copy
// (_ccnew) or the index it replaced (_ccold) behind, invalid; the next migrate drops them, and
// nothing else.
func TestMigrateDropsWhatAnInterruptedRepairLeft(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := indexCatalog{t, pool}
	c.exec(`CREATE INDEX profiles_email_ccnew ON profiles (project_id)`)
	c.exec(`CREATE INDEX profiles_search_words_ccold1 ON profiles (project_id)`)
	c.exec(`CREATE INDEX someone_elses_ccnew ON profiles (project_id)`)
	for _, name := range []string{"profiles_email_ccnew", "profiles_search_words_ccold1", "someone_elses_ccnew"} {
		c.invalidate(name)
	}
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for name, want := range map[string]string{
		"profiles_email_ccnew":         "missing",
		"profiles_search_words_ccold1": "missing",
		"someone_elses_ccnew":          "invalid",
		"profiles_email":               "valid",
		"profiles_search_words":        "valid",
		"profiles_search_runs":         "missing", // 0008's word index, which 0010 replaced
	} {
		if got := c.state(name); got != want {
			t.Errorf("%s %s after migrate, want %s", name, got, want)
		}
	}
}
