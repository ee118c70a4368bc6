package main

import "runtime/debug"

// The garbage collector's pacing for serve and worker, unless the operator set Go's own GOGC
// or GOMEMLIMIT. The live heap of a serving process is small (tens of MiB) and churns fast, so
// Go's default GOGC=100 collects every few milliseconds under load; 400 cut the collector's share
// of the CPU and raised Get and Identify throughput about 10% at 32 clients (the README's
// Performance section). The soft limit keeps the budget: with 200 MiB the process peaked at
// 224 MiB resident under TrackBatch, with 160 MiB at 179 MiB, no slower.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 160 << 20
)

// tuneGC applies the pacing above where getenv shows no setting of the operator's, and
// returns a function that restores what was there.
func tuneGC(getenv func(string) string) (restore func()) {
	var undo []func()
	if getenv("GOGC") == "" {
		prev := debug.SetGCPercent(serveGCPercent)
		undo = append(undo, func() { debug.SetGCPercent(prev) })
	}
	if getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(serveMemoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(prev) })
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}
