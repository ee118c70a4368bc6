// Package chtest gives each test its own migrated ClickHouse database on the local server, and
// drops it when the test ends. Tests only: nothing else imports it.
//
// The server comes from PROFILES_CLICKHOUSE_URL (default clickhouse://127.0.0.1:9000/profiles;
// its database name is ignored). A server that cannot be reached fails the test, naming the URL
// and scripts/setup.sh: tests run on the real server or not at all, never skipped.
package chtest
