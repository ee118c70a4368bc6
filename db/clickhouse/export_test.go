package clickhouse

import (
	"sync"
	"time"
)

// Hooks for the external tests of statsReads.

// HoldStatsSlots takes every query slot of r, so that callers queue and share, until release.
func HoldStatsSlots(r *EventReader) (release func()) {
	for range cap(r.reads.slots) {
		r.reads.slots <- struct{}{}
	}
	return func() {
		for range cap(r.reads.slots) {
			<-r.reads.slots
		}
	}
}

// OpenStatsRead returns how many groups and callers the read still taking callers of a project
// holds.
func OpenStatsRead(r *EventReader, projectID string) (groups, callers int) {
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	if read := r.reads.open[projectID]; read != nil {
		return len(read.groups), read.joined
	}
	return 0, 0
}

// StatsQueries returns how many queries r has run.
func StatsQueries(r *EventReader) int64 { return r.reads.queries.Load() }

// HoldStatsProject makes the next read of a project wait, as if the project's previous query
// were still running, until release (which may be called more than once).
func HoldStatsProject(r *EventReader, projectID string) (release func()) {
	held := newStatsRead()
	r.reads.mu.Lock()
	r.reads.last[projectID] = held
	r.reads.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(held.done) }) }
}

// SetStatsPatience sets how long r's reads wait for their project's previous query.
func SetStatsPatience(r *EventReader, d time.Duration) { r.reads.patience = d }
