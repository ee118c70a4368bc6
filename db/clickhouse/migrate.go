package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MigrationStatus says whether one migration is recorded in the target database.
type MigrationStatus struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt time.Time // the first time it was recorded; zero unless Applied
}

const (
	// sqlCreateMigrationTable makes the version table, in the connection's database. A version
	// may be recorded more than once (two runs at the same time): readers group by version.
	sqlCreateMigrationTable = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime
)
ENGINE = ` + migrationTableEngine

	sqlMigrationTableExists = `SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'`

	sqlAppliedMigrations = `SELECT version, any(name) AS first_name, min(applied_at) AS first_applied_at
FROM schema_migrations
GROUP BY version
ORDER BY version`

	sqlInsertMigration = `INSERT INTO schema_migrations (version, name, applied_at)`
)

// Migrate applies, in version order, every embedded migration not yet recorded in the
// connection's database, and returns the names of those it applied. Applying twice is a no-op.
//
// Each statement is idempotent (CREATE ... IF NOT EXISTS), and a migration is recorded only
// after all its statements ran, so a crash in between just runs them again. Cross-process
// exclusion is the caller's (a Postgres advisory lock); without it two runs may both apply a
// migration, which the idempotent statements and the grouped reads make harmless
// (TestMigrateConcurrent).
func Migrate(ctx context.Context, conn driver.Conn) (applied []string, err error) {
	migrations, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	if err := conn.Exec(ctx, sqlCreateMigrationTable); err != nil && !alreadyExists(err) {
		return nil, fmt.Errorf("clickhouse: create schema_migrations: %w", err)
	}
	done, err := appliedMigrations(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range migrations {
		if _, ok := done[m.Version]; ok {
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil && !alreadyExists(err) {
				return applied, fmt.Errorf("clickhouse: migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := recordMigration(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// Status lists every embedded migration and whether the connection's database recorded it,
// followed by any recorded version this binary does not know (a newer binary ran). It changes
// nothing, not even on a database never migrated.
func Status(ctx context.Context, conn driver.Conn) ([]MigrationStatus, error) {
	migrations, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	var exists uint64
	if err := conn.QueryRow(ctx, sqlMigrationTableExists).Scan(&exists); err != nil {
		return nil, fmt.Errorf("clickhouse: look for schema_migrations: %w", err)
	}
	done := map[int]MigrationStatus{}
	if exists > 0 {
		if done, err = appliedMigrations(ctx, conn); err != nil {
			return nil, err
		}
	}
	out := make([]MigrationStatus, 0, len(migrations))
	for _, m := range migrations {
		st := MigrationStatus{Version: m.Version, Name: m.Name}
		if rec, ok := done[m.Version]; ok {
			st.Applied, st.AppliedAt = true, rec.AppliedAt
			delete(done, m.Version)
		}
		out = append(out, st)
	}
	unknown := make([]MigrationStatus, 0, len(done))
	for _, rec := range done {
		unknown = append(unknown, rec)
	}
	sort.Slice(unknown, func(i, j int) bool { return unknown[i].Version < unknown[j].Version })
	return append(out, unknown...), nil
}

// appliedMigrations reads the version table, one entry per version however often recorded.
func appliedMigrations(ctx context.Context, conn driver.Conn) (map[int]MigrationStatus, error) {
	rows, err := conn.Query(ctx, sqlAppliedMigrations)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := map[int]MigrationStatus{}
	for rows.Next() {
		var (
			version uint32
			st      = MigrationStatus{Applied: true}
		)
		if err := rows.Scan(&version, &st.Name, &st.AppliedAt); err != nil {
			return nil, fmt.Errorf("clickhouse: read schema_migrations: %w", err)
		}
		st.Version, st.AppliedAt = int(version), st.AppliedAt.UTC()
		done[st.Version] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: read schema_migrations: %w", err)
	}
	return done, nil
}

func recordMigration(ctx context.Context, conn driver.Conn, m Migration) error {
	batch, err := conn.PrepareBatch(ctx, sqlInsertMigration)
	if err != nil {
		return fmt.Errorf("clickhouse: record migration %s: %w", m.Name, err)
	}
	defer batch.Close()
	if err := batch.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second)); err != nil {
		return fmt.Errorf("clickhouse: record migration %s: %w", m.Name, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: record migration %s: %w", m.Name, err)
	}
	return nil
}
