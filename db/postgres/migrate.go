package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey serialises every migrate process on one database: ours, River's and the
// ClickHouse steps run under it, so two deploys migrating at once cannot interleave.
const migrationLockKey int64 = 0x70726f66696c6573 // "profiles"

// MigrationStatus is one migration and whether it has been applied.
type MigrationStatus struct {
	Component string // "postgres", "river" or "clickhouse"
	Version   int64
	Name      string
	Applied   bool
}

// Step is further migration work run under the same lock, such as ClickHouse's schema.
type Step func(ctx context.Context) error

// Migrate applies pending Postgres migrations (ours, then River's) and then each step, all
// under one session advisory lock held on a dedicated connection. Applying twice is a no-op.
func Migrate(ctx context.Context, pool *pgxpool.Pool, steps ...Step) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire migration connection: %w", err)
	}
	// The lock is session-scoped, so this connection is closed rather than returned to the pool:
	// a lock can never leak to another user of the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if err := lockMigrations(ctx, conn); err != nil {
		return err
	}

	if err := repairInvalidIndexes(ctx, conn); err != nil {
		return err
	}
	provider, err := gooseProvider(pool)
	if err != nil {
		return err
	}
	defer provider.Close() // closes goose's database/sql handle, never the pool
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply postgres migrations: %w", err)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// concurrentIndexes are the indexes that migrations build with CREATE INDEX CONCURRENTLY. A
// build that fails (cancelled, or a deadline) leaves its index behind, invalid: reads ignore it,
// writes still maintain it, and IF NOT EXISTS skips it when the migration runs again.
// profiles_search_runs (0008) is one until 0010 drops it; 0011, 0012 and 0013 build the _next
// indexes and rename them over the ones they replace.
var concurrentIndexes = []string{"profiles_email", "profiles_external_id", "profiles_search_runs", "profiles_search_words",
	"profiles_email_next", "profiles_external_id_next", "profiles_search_next", "profiles_search_words_next"}

// repairInvalidIndexes rebuilds in place, before any migration runs, the concurrentIndexes that
// a failed build left invalid. REINDEX CONCURRENTLY keeps the index (and its settings, such as a
// statistics target) in the catalog throughout, so a migrate that fails or dies at any point
// leaves nothing missing that a recorded migration made; a pending migration then finds the
// index valid and skips it. Only migrate builds these, under the migration lock: an invalid one
// here is no build in progress.
func repairInvalidIndexes(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT c.relname, c.relname <> ALL($1)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace
  AND coalesce(substring(c.relname FROM '^(.*)_cc(?:new|old)[0-9]*$'), c.relname) = ANY($1)
ORDER BY 2 DESC, 1`, concurrentIndexes)
	if err != nil {
		return fmt.Errorf("find invalid indexes: %w", err)
	}
	type invalidIndex struct {
		Name     string
		Leftover bool
	}
	invalid, err := pgx.CollectRows(rows, pgx.RowToStructByPos[invalidIndex])
	if err != nil {
		return fmt.Errorf("find invalid indexes: %w", err)
	}
	for _, ix := range invalid {
		// A REINDEX CONCURRENTLY that died leaves its copy (_ccnew) or the index it replaced
		// (_ccold) behind, invalid: drop those first, then rebuild the index itself.
		stmt := `REINDEX INDEX CONCURRENTLY `
		if ix.Leftover {
			stmt = `DROP INDEX CONCURRENTLY IF EXISTS `
		}
		if _, err := conn.Exec(ctx, stmt+pgx.Identifier{ix.Name}.Sanitize()); err != nil {
			return fmt.Errorf("repair invalid index %s: %w", ix.Name, err)
		}
	}
	return nil
}

// lockMigrations takes the migration lock on conn, polling rather than blocking: a session
// blocked in pg_advisory_lock is an open transaction, and CREATE INDEX CONCURRENTLY in the
// holder's migration waits for every older transaction of the database to end, so the two
// would wait for each other forever.
func lockMigrations(ctx context.Context, conn *pgx.Conn) error {
	for {
		var locked bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, migrationLockKey).Scan(&locked); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if locked {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("take migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Status lists our migrations and River's with whether each is applied.
func Status(ctx context.Context, pool *pgxpool.Pool) ([]MigrationStatus, error) {
	provider, err := gooseProvider(pool)
	if err != nil {
		return nil, err
	}
	defer provider.Close()
	ours, err := provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres migration status: %w", err)
	}
	var out []MigrationStatus
	for _, s := range ours {
		out = append(out, MigrationStatus{
			Component: "postgres",
			Version:   s.Source.Version,
			Name:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
		})
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	applied := map[int]bool{}
	// On a database River has never seen, ExistingVersions fails: nothing of River's is applied.
	if existing, err := migrator.ExistingVersions(ctx); err == nil {
		for _, m := range existing {
			applied[m.Version] = true
		}
	}
	for _, m := range migrator.AllVersions() {
		out = append(out, MigrationStatus{Component: "river", Version: int64(m.Version), Name: m.Name, Applied: applied[m.Version]})
	}
	return out, nil
}

func gooseProvider(pool *pgxpool.Pool) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), sub)
	if err != nil {
		return nil, fmt.Errorf("goose provider: %w", err)
	}
	return provider, nil
}

// MigrationFiles exposes the embedded migrations, so test templates can be named for them.
func MigrationFiles() fs.FS { return migrationFiles }

// RiverSchemaVersion names the newest River migration this binary carries.
func RiverSchemaVersion() string {
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "unknown"
	}
	all := migrator.AllVersions()
	if len(all) == 0 {
		return "none"
	}
	return fmt.Sprint(all[len(all)-1].Version)
}
