package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Open connects to the database named in rawURL over the native protocol and checks the server
// answers. rawURL looks like
//
//	clickhouse://[user[:password]@]host:9000/database[?setting=value&...]
//
// Query parameters are clickhouse-go's DSN options (dial_timeout, read_timeout,
// max_open_conns, ...) or server settings sent with every query. Unless the URL says
// otherwise, every query runs under max_execution_time = 10 s and the pool is small (see
// dialect.go). The caller closes the returned connection.
func Open(ctx context.Context, rawURL string) (driver.Conn, error) {
	opts, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return open(ctx, opts)
}

// EnsureDatabase creates the database named in rawURL if it does not exist, connecting to the
// default database to do so. Safe to run concurrently and repeatedly.
func EnsureDatabase(ctx context.Context, rawURL string) error {
	opts, err := parseURL(rawURL)
	if err != nil {
		return err
	}
	name := opts.Auth.Database
	if err := checkIdentifier(name); err != nil {
		return err
	}
	opts.Auth.Database = "default"
	conn, err := open(ctx, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, createDatabaseSQL(name)); err != nil && !alreadyExists(err) {
		return fmt.Errorf("clickhouse: create database %s: %w", name, err)
	}
	return nil
}

// createDatabaseSQL names the database in the text: an identifier cannot be bound, so callers
// pass only names checkIdentifier admitted.
func createDatabaseSQL(name string) string {
	return "CREATE DATABASE IF NOT EXISTS `" + name + "`"
}

// Ping checks that the server behind conn answers.
func Ping(ctx context.Context, conn driver.Conn) error {
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: ping: %w", err)
	}
	return nil
}

func open(ctx context.Context, opts *ch.Options) (driver.Conn, error) {
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open %s: %w", redacted(opts), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse: connect to %s: %w", redacted(opts), err)
	}
	return conn, nil
}

// parseURL turns rawURL into clickhouse-go options with our defaults filled in wherever the URL
// is silent.
func parseURL(rawURL string) (*ch.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error carries the input, password included: keep only the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("clickhouse: invalid URL: %w", err)
	}
	if u.Scheme != "clickhouse" && u.Scheme != "tcp" {
		// clickhouse-go's HTTP protocol does not work with 18.16 (dialect.go).
		return nil, fmt.Errorf("clickhouse: URL scheme %q: want clickhouse://host:9000/database", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("clickhouse: URL has no host: want clickhouse://host:9000/database")
	}
	opts, err := ch.ParseDSN(rawURL)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: invalid URL: %w", err)
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "default"
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = defaultReadTimeout
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = defaultMaxOpenConns
	}
	if opts.MaxIdleConns == 0 {
		opts.MaxIdleConns = min(defaultMaxIdleConns, opts.MaxOpenConns)
	}
	if opts.ConnMaxLifetime == 0 {
		opts.ConnMaxLifetime = defaultConnMaxLifetime
	}
	for name, value := range defaultSettings() {
		if _, set := opts.Settings[name]; !set {
			opts.Settings[name] = value
		}
	}
	return opts, nil
}

// redacted names the server for error messages, without credentials.
func redacted(opts *ch.Options) string {
	return "clickhouse://" + strings.Join(opts.Addr, ",") + "/" + opts.Auth.Database
}

var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// checkIdentifier admits database and table names that need no quoting, so the few statements
// that must name one in their text (identifiers cannot be bound) stay injection-free.
func checkIdentifier(name string) error {
	if !identifierRE.MatchString(name) {
		return fmt.Errorf("clickhouse: database name %q: want letters, digits and _ only", name)
	}
	return nil
}
