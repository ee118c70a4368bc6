package chtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a database's connection outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
