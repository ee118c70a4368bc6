package postgres

import (
	"context"

	"github.com/poluruprvn/profiles/profiles"
)

// WithListStrategy returns a copy of r that switches List's strategies at other sizes
// (list.go), so that a test reaches each of them with a few dozen profiles.
func (r *ProfileReader) WithListStrategy(collectCap, walkFactor, walkMax int) *ProfileReader {
	return &ProfileReader{pool: r.pool, collectCap: collectCap, walkFactor: walkFactor, walkMax: walkMax}
}

// The payload formats (payload.go).
const (
	PayloadFormat    = payloadFormat
	PayloadJSONLines = payloadJSONLines
)

// CollectAll is List's last strategy alone: every match collected, in a read shared by
// identical calls that run at once (list.go).
func (r *ProfileReader) CollectAll(ctx context.Context, projectID string, q profiles.Query) ([]profiles.Record, int, error) {
	l, err := compileList(projectID, q)
	if err != nil {
		return nil, 0, err
	}
	return r.collectAll(ctx, l, q)
}

// Slots returns the leader slots the store counts as held and the writes it has queued.
func (s *IdentityStore) Slots() (leaders, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaders, len(s.queue)
}

// CompileQuery is List's compiler of a free-text query into a condition and its arguments.
var CompileQuery = compileQuery
