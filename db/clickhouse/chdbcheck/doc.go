// Package chdbcheck proves that every migration and every query of package clickhouse parses
// and runs on a current ClickHouse, not only on the 18.16 server the other tests use. It holds
// only tests (chdb_test.go).
//
// The current engine is chdb (ClickHouse 26.x as a library, libchdb.so) driven in-process by
// chdb-go. It lives in its own package for two reasons: chdb-go loads the library in an init
// function and panics when it cannot, which would take every other test of the binary down
// with it; and a whole ClickHouse loaded into the process has no business next to tests of a
// network client. TestChdbLibraryConfigured in package clickhouse fails with instructions
// when CHDB_LIB_PATH is missing, so a panic here never stands alone.
package chdbcheck
