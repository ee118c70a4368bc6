package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
)

// backends are the two stores a serve or worker process holds open.
type backends struct {
	pool *pgxpool.Pool
	ch   driver.Conn
}

// openBackends connects to Postgres and ClickHouse and checks that both schemas are migrated,
// so that a process started before `profiles migrate` fails at once, saying so. Settings that
// will hurt in production are logged.
func openBackends(ctx context.Context, cfg Config, logger *slog.Logger) (*backends, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, int32(cfg.PGMaxConns))
	if err != nil {
		return nil, fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
	}
	ch, err := clickhouse.Open(ctx, cfg.ClickHouseURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
	}
	b := &backends{pool: pool, ch: ch}
	if err := b.checkSchema(ctx); err != nil {
		b.close()
		return nil, err
	}
	if on, err := postgres.Autovacuum(ctx, pool); err == nil && !on {
		logger.Warn("postgres runs without autovacuum: dead rows of river_job and profiles are never reclaimed, and writes slow as they pile up; turn it on, or VACUUM them regularly")
	}
	return b, nil
}

func (b *backends) close() {
	_ = b.ch.Close()
	b.pool.Close()
}

// checkSchema fails when a migration this binary carries is not applied.
func (b *backends) checkSchema(ctx context.Context) error {
	var pending []string
	pg, err := postgres.Status(ctx, b.pool)
	if err != nil {
		return fmt.Errorf("read postgres migration status: %w", err)
	}
	for _, m := range pg {
		if !m.Applied {
			pending = append(pending, fmt.Sprintf("%s %s", m.Component, m.Name))
		}
	}
	ch, err := clickhouse.Status(ctx, b.ch)
	if err != nil {
		return fmt.Errorf("read clickhouse migration status: %w", err)
	}
	for _, m := range ch {
		if !m.Applied {
			pending = append(pending, "clickhouse "+m.Name)
		}
	}
	if len(pending) > 0 {
		return errors.New("migrations not applied (run `profiles migrate` first): " + strings.Join(pending, ", "))
	}
	return nil
}
