package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a serve, worker or command leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
