package clickhouse_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every connection a test
// opens (chtest's included) must be closed, and closing must stop the pool's goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
