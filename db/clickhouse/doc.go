// Package clickhouse is the read model: the native ClickHouse connection, the embedded schema
// migrations with their own version table, and the batch writer and read helpers of the
// identity projection.
//
// Everything here is written for two engines at once: ClickHouse 18.16, the newest server
// Debian packages and the one every machine runs, and a current ClickHouse (26.x), which the
// chdbcheck tests run in-process through chdb. dialect.go is the one place that knows the
// difference. Deduplication in ClickHouse is never guaranteed, so every table is a
// ReplacingMergeTree keyed by a version and every read collapses rows itself (argMax ... GROUP
// BY); writing the same rows twice, or an older version after a newer one, changes nothing a
// read can see (projection_test.go).
//
// All SQL sits in named constants beside its caller and is listed in Queries, so a test can run
// every statement on both engines. Values are always bound, never concatenated into the text.
package clickhouse
