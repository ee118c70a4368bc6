package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/profiles"
)

// ProfileReader reads profiles for ProfilesService. Postgres is the system of record, so a
// write is readable here as soon as it commits.
type ProfileReader struct {
	pool *pgxpool.Pool
	// List's strategies (list.go): a narrowed List with up to collectCap matches collects and
	// counts them all; past that the page walks the newest live profiles, looking at no more
	// than walkFactor rows per row of the page before it falls back to collecting.
	collectCap, walkFactor, walkMax int
	collecting                      sharedReads // collectAll's, by query and page
}

var _ profiles.Store = (*ProfileReader)(nil)

// NewProfileReader returns a ProfileReader.
func NewProfileReader(pool *pgxpool.Pool) *ProfileReader {
	return &ProfileReader{pool: pool, collectCap: 200, walkFactor: 20, walkMax: 50_000}
}

const profileColumns = `p.id, coalesce(p.external_id, ''), p.effective, p.deleted_at IS NOT NULL,
    p.created_at, p.updated_at, coalesce(p.merged_into, ''),
    ARRAY(SELECT d.distinct_id FROM distinct_ids d WHERE d.project_id = p.project_id AND d.profile_id = p.id ORDER BY d.distinct_id)`

const (
	sqlFindByDistinctID = `SELECT ` + profileColumns + `
FROM distinct_ids x JOIN profiles p ON p.project_id = x.project_id AND p.id = x.profile_id
WHERE x.project_id = $1 AND x.distinct_id = $2`

	sqlFindByID = `SELECT ` + profileColumns + ` FROM profiles p WHERE p.project_id = $1 AND p.id = $2`
)

// Find implements profiles.Store.
func (r *ProfileReader) Find(ctx context.Context, projectID string, l profiles.Lookup) (profiles.Record, error) {
	var rec profiles.Record
	var mergedInto string
	scan := func(sql, arg string) error {
		return r.pool.QueryRow(ctx, sql, projectID, arg).Scan(&rec.ID, &rec.ExternalID, &rec.Traits, &rec.Deleted,
			&rec.CreatedAt, &rec.UpdatedAt, &mergedInto, &rec.DistinctIDs)
	}
	var err error
	switch {
	case l.ProfileID != "":
		err = scan(sqlFindByID, l.ProfileID)
		// A merged-away id resolves to the winner; merges can chain, a few hops at most.
		for hops := 0; err == nil && mergedInto != "" && hops < 16; hops++ {
			err = scan(sqlFindByID, mergedInto)
		}
	case l.ExternalID != "":
		err = scan(sqlFindByDistinctID, l.ExternalID)
	default:
		err = scan(sqlFindByDistinctID, l.DistinctID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, identity.ErrNotFound
	}
	if err != nil {
		return rec, unavailable(ctx, fmt.Errorf("find profile: %w", err))
	}
	return rec, nil
}

// filtersOf converts the domain's filters; profiles.Op and FilterOp share their numbering
// (pinned by TestFilterOpsMatchDomain).
func filtersOf(fs []profiles.Filter) []Filter {
	out := make([]Filter, len(fs))
	for i, f := range fs {
		out[i] = Filter{Key: f.Key, Op: FilterOp(f.Op), Value: f.Value}
	}
	return out
}
