// Package pgtest gives each test its own migrated Postgres database, cloned in milliseconds
// from a template that is migrated once per schema version (pgtestdb's idea). Tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/db/postgres"
)

// DefaultURL is used when PROFILES_DATABASE_URL is unset; tests take only its server from it.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/profiles?sslmode=disable"

// New returns a pool on a fresh migrated database that is dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), NewURL(t), 20)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewURL creates a fresh migrated database and returns its URL, for tests that start processes.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := adminConn(ctx, t)
	defer admin.Close(ctx)

	template := ensureTemplate(ctx, t, admin)
	name := "profiles_test_" + randomSuffix()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())); err != nil {
		t.Fatalf("pgtest: clone template: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn := adminConn(ctx, t)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return urlFor(t, name)
}

// NewEmptyURL creates a fresh database with no schema at all, for migration tests.
func NewEmptyURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := "profiles_test_" + randomSuffix()
	t.Cleanup(func() {
		conn := adminConn(ctx, t)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return urlFor(t, name)
}

func baseURL() string {
	if u := os.Getenv("PROFILES_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

func urlFor(t testing.TB, database string) string {
	cfg, err := pgx.ParseConfig(baseURL())
	if err != nil {
		t.Fatalf("pgtest: parse PROFILES_DATABASE_URL: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, database)
}

func adminConn(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, urlFor(t, "postgres"))
	if err != nil {
		t.Fatalf("pgtest: cannot reach Postgres at %s (run scripts/setup.sh): %v", postgres.Redact(baseURL()), err)
	}
	return conn
}

// ensureTemplate migrates a template database named for the migrations' content, once across
// all test processes (an advisory lock on the admin database serialises them).
func ensureTemplate(ctx context.Context, t testing.TB, admin *pgx.Conn) string {
	t.Helper()
	name := "profiles_template_" + schemaHash(t)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7001)`); err != nil {
		t.Fatalf("pgtest: lock: %v", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7001)`)

	var ready bool
	err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready)
	if err != nil {
		t.Fatalf("pgtest: look up template: %v", err)
	}
	if ready {
		return name
	}
	quoted := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
		t.Fatalf("pgtest: drop half-made template: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+quoted); err != nil {
		t.Fatalf("pgtest: create template: %v", err)
	}
	pool, err := postgres.Open(ctx, urlFor(t, name), 4)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	err = postgres.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		t.Fatalf("pgtest: migrate template: %v", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+quoted+" WITH is_template true"); err != nil {
		t.Fatalf("pgtest: mark template: %v", err)
	}
	return name
}

// schemaHash names the template after every embedded migration, so a changed migration gets a
// new template instead of a stale one.
func schemaHash(t testing.TB) string {
	h := sha256.New()
	err := fs.WalkDir(postgres.MigrationFiles(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(postgres.MigrationFiles(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: hash migrations: %v", err)
	}
	h.Write([]byte(postgres.RiverSchemaVersion()))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
