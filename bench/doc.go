// Package bench drives a running Profiles server over real HTTP with N concurrent clients for a
// fixed time, and measures, in the same run and at the same concurrency, the raw Postgres and
// ClickHouse rates that bound each path. `profiles bench` is its command line.
package bench
