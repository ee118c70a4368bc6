package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/profiles"
)

// ProfileReader reads profiles for ProfilesService. Postgres is the system of record, so a
// write is readable here as soon as it commits.
type ProfileReader struct {
	pool *pgxpool.Pool
}

var _ profiles.Store = (*ProfileReader)(nil)

// NewProfileReader returns a ProfileReader.
func NewProfileReader(pool *pgxpool.Pool) *ProfileReader { return &ProfileReader{pool: pool} }

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

// List implements profiles.Store: the page and the exact total in one round trip.
func (r *ProfileReader) List(ctx context.Context, projectID string, q profiles.Query) ([]profiles.Record, int, error) {
	where := []string{"p.project_id = $1", "p.merged_into IS NULL", "p.deleted_at IS NULL"}
	live := len(where) // every live profile; more conditions narrow it
	args := []any{projectID}
	if cond, cargs := compileQuery(q.Text, len(args)+1); cond != "" {
		where = append(where, cond)
		args = append(args, cargs...)
	}
	if len(q.Filters) > 0 {
		cond, fargs, err := compileFilters(filtersOf(q.Filters), len(args)+1)
		var fe *FilterError
		if errors.As(err, &fe) {
			return nil, 0, &identity.FieldError{Field: fe.Field, Reason: fe.Reason}
		}
		if err != nil {
			return nil, 0, err
		}
		if cond != "" {
			where = append(where, cond)
			args = append(args, fargs...)
		}
	}
	narrowed := len(where) > live
	matches := `SELECT p.id FROM profiles p WHERE ` + strings.Join(where, " AND ")
	countSQL := `SELECT count(*) FROM (` + matches + `) m`
	countArgs := append([]any(nil), args...)
	after := "true"
	if q.After != "" {
		args = append(args, q.After)
		after = fmt.Sprintf("id < $%d", len(args))
	}
	args = append(args, q.Limit, q.Offset)
	window := fmt.Sprintf("ORDER BY id DESC LIMIT $%d OFFSET $%d", len(args)-1, len(args))

	var pageSQL string
	if !narrowed {
		// Every live profile: the page walks the (project, id) index backwards, the count
		// reads it whole; no need to collect the matches.
		pageSQL = `SELECT ` + profileColumns + `, 0 FROM profiles p WHERE ` + strings.Join(where, " AND ") + ` AND ` + after + ` ` + window
	} else {
		// A query or filters: collect the matches once, through whichever index suits them,
		// then count them and cut the page from them. Left to ORDER BY id ... LIMIT, the
		// planner walks the id index hoping to meet 50 matches soon, and reads the whole
		// project for a search that matches one profile (1 s at a million profiles).
		pageSQL = `WITH matches AS MATERIALIZED (` + matches + `),
page AS (SELECT id FROM matches WHERE ` + after + ` ` + window + `)
SELECT ` + profileColumns + `, (SELECT count(*) FROM matches)
FROM page JOIN profiles p ON p.project_id = $1 AND p.id = page.id
ORDER BY p.id DESC`
	}
	total := -1
	var recs []profiles.Record
	scanPage := func(rows pgx.Rows) error {
		var rec profiles.Record
		var merged string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&rec.ID, &rec.ExternalID, &rec.Traits, &rec.Deleted,
			&rec.CreatedAt, &rec.UpdatedAt, &merged, &rec.DistinctIDs, &n}, func() error {
			recs = append(recs, rec)
			rec = profiles.Record{}
			if narrowed {
				total = n
			}
			return nil
		})
		return err
	}
	b := &pgx.Batch{}
	if !narrowed {
		b.Queue(countSQL, countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
	}
	b.Queue(pageSQL, args...).Query(scanPage)
	if err := r.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, unavailable(ctx, fmt.Errorf("list profiles: %w", err))
	}
	if total < 0 { // a page past the last match carries no count
		if err := r.pool.QueryRow(ctx, countSQL, countArgs...).Scan(&total); err != nil {
			return nil, 0, unavailable(ctx, fmt.Errorf("count profiles: %w", err))
		}
	}
	return recs, total, nil
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
