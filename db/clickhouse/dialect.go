package clickhouse

import (
	"errors"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// This file holds every choice made because the oldest server we run is ClickHouse 18.16.1
// (handshake revision 54412). The SQL elsewhere sticks to what both 18.16 and a current
// ClickHouse accept; chdbcheck proves the current half, the tests on the local server the other.
//
// Missing on 18.16, so never used here:
//   - the HTTP interface with clickhouse-go (it sends client_protocol_version): native only;
//   - server-side parameters ({name:Type}): clickhouse-go binds ?/@name client-side instead;
//   - DateTime64, Map, JSON type and JSONExtract* (visitParamExtract* exists), LowCardinality
//     without an experimental setting: strings, UInt8 for booleans, DateTime in seconds;
//   - CTEs with subqueries, window functions, TTL, lightweight DELETE FROM, INSERT ... SETTINGS,
//     async_insert, ADD COLUMN IF NOT EXISTS: migrations create whole tables IF NOT EXISTS;
//   - insert deduplication tokens and ReplacingMergeTree's is_deleted column: idempotence comes
//     from versions and read-side collapsing (argMax ... GROUP BY), never from FINAL alone;
//   - a default query time limit: every connection sends max_execution_time;
//   - PrepareBatch without a column list ("expected 0 arguments"), and Exec("INSERT ... VALUES")
//     hangs: inserts are batches that name their columns.
//   - max_query_size is 256 KiB and IN lists are bound into the text: lookups go in chunks.

const (
	// defaultMaxExecutionTime bounds every query unless the URL sets max_execution_time; the
	// server has no limit of its own, so a runaway read would otherwise run forever.
	defaultMaxExecutionTime = 10 // seconds

	// defaultDialTimeout and defaultReadTimeout replace clickhouse-go's 30 s and 300 s: a read
	// is cut by the server after max_execution_time, so a socket silent for far longer is dead.
	defaultDialTimeout = 5 * time.Second
	defaultReadTimeout = 30 * time.Second

	// Writes are batched, but every Get and List page reads event figures: as many connections
	// as the API serves requests at once (32 clients measured 8 connections as the bottleneck).
	defaultMaxOpenConns    = 32
	defaultMaxIdleConns    = 16
	defaultConnMaxLifetime = 30 * time.Minute
)

// defaultSettings are sent with every query on every connection Open returns. Only settings
// 18.16 knows may appear here: the server refuses an unknown setting.
func defaultSettings() ch.Settings {
	return ch.Settings{"max_execution_time": defaultMaxExecutionTime}
}

// Server error codes, the same on 18.16 and current ClickHouse.
const (
	codeTableAlreadyExists    = 57
	codeDatabaseAlreadyExists = 82
)

// alreadyExists reports whether err says a table or database exists. Concurrent
// CREATE ... IF NOT EXISTS statements can still race on some versions (one checks, the other
// creates, the first fails); the statement's intent was met, so callers treat it as success.
func alreadyExists(err error) bool {
	var ex *ch.Exception
	if !errors.As(err, &ex) {
		return false
	}
	return ex.Code == codeTableAlreadyExists || ex.Code == codeDatabaseAlreadyExists
}

// migrationTableEngine is the version table's engine: a plain MergeTree ORDER BY version, which
// both versions accept. Two runs may both record a version; reads group by version.
const migrationTableEngine = "MergeTree ORDER BY version"
