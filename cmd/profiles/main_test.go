package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a serve, worker or command leaves a goroutine behind.
//
// Ignored: postgres.Migrate and postgres.Status open a database/sql handle for goose and never
// close it, which leaves its connectionOpener goroutine running (one per call). Remove the
// ignore once db/postgres closes its goose provider.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}
