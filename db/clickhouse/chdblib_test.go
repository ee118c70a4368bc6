package clickhouse_test

import (
	"bytes"
	"os"
	"testing"
)

// TestChdbLibraryConfigured checks what chdbcheck needs before it can even start: chdb-go
// loads CHDB_LIB_PATH in an init function and panics when it cannot, with a message that says
// nothing about how to fix it. This test says it.
func TestChdbLibraryConfigured(t *testing.T) {
	t.Parallel()
	const fix = "run scripts/setup.sh, then set CHDB_LIB_PATH to the libchdb.so it installs " +
		"(under .tools/node_modules/@chdb/lib-linux-x64-gnu/); chdbcheck runs every migration and query on a current ClickHouse with it"
	path := os.Getenv("CHDB_LIB_PATH")
	if path == "" {
		t.Fatal("CHDB_LIB_PATH is not set: " + fix)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("CHDB_LIB_PATH=%s: %v: %s", path, err, fix)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := f.Read(magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		t.Fatalf("CHDB_LIB_PATH=%s is not a shared library (%v): %s", path, err, fix)
	}
}
