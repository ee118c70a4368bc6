package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/poluruprvn/profiles/db/clickhouse"
)

// DefaultURL is the server tests use when PROFILES_CLICKHOUSE_URL is unset.
const DefaultURL = "clickhouse://127.0.0.1:9000/profiles"

// setupTimeout bounds creating, migrating and dropping one database.
const setupTimeout = 30 * time.Second

// New returns a connection to a fresh database with every migration applied, dropped (and the
// connection closed) when the test ends.
func New(t testing.TB) driver.Conn {
	t.Helper()
	conn := NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := clickhouse.Migrate(ctx, conn); err != nil {
		t.Fatalf("chtest: migrate: %v", err)
	}
	return conn
}

// NewEmpty is New without the migrations, for tests of the migrations themselves.
func NewEmpty(t testing.TB) driver.Conn {
	t.Helper()
	conn, _ := NewURL(t)
	return conn
}

// NewURL is NewEmpty that also returns the database's URL, for tests that open their own
// connections to it.
func NewURL(t testing.TB) (driver.Conn, string) {
	t.Helper()
	return newOn(t, serverURL())
}

// newOn creates the database on the server base names.
func newOn(t testing.TB, base string) (driver.Conn, string) {
	t.Helper()
	dbURL, name, err := databaseURL(base, t.Name())
	if err != nil {
		t.Fatalf("chtest: PROFILES_CLICKHOUSE_URL=%q: %v", base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := clickhouse.EnsureDatabase(ctx, dbURL); err != nil {
		t.Fatalf("chtest: ClickHouse at %s cannot be used (%v): start it with scripts/setup.sh, or point PROFILES_CLICKHOUSE_URL at a server", redact(base), err)
	}
	conn, err := clickhouse.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("chtest: connect to %s: %v", name, err)
	}
	t.Cleanup(func() {
		// A fresh context: the test's own may be done by now.
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("chtest: drop database %s: %v", name, err)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("chtest: close: %v", err)
		}
	})
	return conn, dbURL
}

func serverURL() string {
	if u := os.Getenv("PROFILES_CLICKHOUSE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// databaseURL swaps the database in base for a new unique name derived from the test's name,
// so a leftover database says which test left it.
func databaseURL(base, testName string) (dbURL, name string, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() == 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	name = "test_" + b.String() + "_" + hex.EncodeToString(suffix[:])
	u.Path = "/" + name
	return u.String(), name, nil
}

// redact hides a password in u for messages.
func redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return parsed.Redacted()
}
