package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/identity"
)

const sqlSnapshots = `
SELECT project_id, id, coalesce(external_id, ''), effective, coalesce(merged_into, ''), deleted_at IS NOT NULL, version, updated_at
FROM profiles
WHERE (project_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`

// SnapshotReader reads profiles as the projection writes them: their state now, which is never
// older than the change that named them. It implements jobs.SnapshotReader.
type SnapshotReader struct {
	pool *pgxpool.Pool
}

// NewSnapshotReader returns a SnapshotReader on pool.
func NewSnapshotReader(pool *pgxpool.Pool) *SnapshotReader { return &SnapshotReader{pool: pool} }

// Snapshots returns the current state of every profile the changes name, each once, in one
// query. A profile that no longer exists is left out.
func (r *SnapshotReader) Snapshots(ctx context.Context, changes []identity.Change) ([]identity.Snapshot, error) {
	type key struct{ project, id string }
	seen := map[key]bool{}
	var projects, ids []string
	for _, c := range changes {
		for _, id := range c.ProfileIDs {
			if k := (key{c.ProjectID, id}); !seen[k] {
				seen[k] = true
				projects, ids = append(projects, c.ProjectID), append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := r.pool.Query(ctx, sqlSnapshots, projects, ids)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("read profiles to project: %w", err))
	}
	snaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (identity.Snapshot, error) {
		var s identity.Snapshot
		if err := row.Scan(&s.ProjectID, &s.ID, &s.ExternalID, &s.Traits, &s.MergedInto, &s.Deleted, &s.Version, &s.UpdatedAt); err != nil {
			return s, err
		}
		s.UpdatedAt = s.UpdatedAt.UTC()
		return s, nil
	})
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("read profiles to project: %w", err))
	}
	return snaps, nil
}
