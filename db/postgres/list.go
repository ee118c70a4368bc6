package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/profiles"
)

// List implements profiles.Store. How a page is best read depends on how many profiles match,
// which no plan knows beforehand (Postgres guesses at jsonb and trigram conditions):
//
//   - Every live profile: the page walks the (project, id) index backwards. The total is left
//     to Count.
//   - A query or filters: the matches are collected through whichever index suits them, at
//     most collectCap+1 of them, then counted and cut into the page: one round trip, and an
//     exact total. Left to ORDER BY id ... LIMIT instead, the planner walks the id index hoping
//     to meet 50 matches soon, and reads the whole project for a search that matches one
//     profile (1 s at a million profiles).
//   - More than collectCap matches: collecting them all means a recheck of every one (0.5 s
//     for 128,000 of a million). The page walks the newest live profiles instead and keeps the
//     matches, a few hundred rows when one profile in seven matches, and the total is left to
//     Count. A walk that meets too few matches within walkFactor rows per row wanted gives way
//     to collecting every match, in a read that identical Lists share (collectAll).
func (r *ProfileReader) List(ctx context.Context, projectID string, q profiles.Query) ([]profiles.Record, int, error) {
	l, err := compileList(projectID, q)
	if err != nil {
		return nil, 0, err
	}
	if l.conds == "" {
		recs, err := r.walk(ctx, l, q, 0)
		return recs, -1, err
	}
	if q.Matches <= r.collectCap { // else a recent count says the matches are many
		recs, n, err := r.collect(ctx, l, q, r.collectCap)
		if err != nil || n <= r.collectCap {
			return recs, n, err
		}
	}
	if budget := r.walkFactor * (q.Offset + q.Limit); budget <= r.walkMax {
		recs, err := r.walk(ctx, l, q, budget)
		if err != nil || len(recs) == q.Limit {
			return recs, -1, err
		}
	}
	return r.collectAll(ctx, l, q)
}

// collectAll is collect of every match, shared by identical Lists that run at once. It is the
// one strategy whose cost grows with the matches (0.5-0.7 s for 128,000 of a million, most of
// it reading the heap): when only old profiles match a broad filter, the walk meets too few of
// them, and 32 clients of one dashboard filter made 32 such reads at once (5 Lists a second,
// p50 5 s). A List joins a read only in its first collectAllJoin, so what it answers is never
// older than that when the List began: within the seconds the API allows search to lag.
func (r *ProfileReader) collectAll(ctx context.Context, l listSQL, q profiles.Query) ([]profiles.Record, int, error) {
	key, err := json.Marshal([]any{l.conds, l.args, q.After, q.Offset, q.Limit})
	if err != nil {
		return r.collect(ctx, l, q, 0)
	}
	return r.collecting.do(ctx, string(key), func(ctx context.Context) ([]profiles.Record, int, error) {
		return r.collect(ctx, l, q, 0)
	})
}

// Count implements profiles.Store.
func (r *ProfileReader) Count(ctx context.Context, projectID string, q profiles.Query) (int, error) {
	l, err := compileList(projectID, q)
	if err != nil {
		return 0, err
	}
	var n int
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM profiles p WHERE `+l.where(), l.args...).Scan(&n); err != nil {
		return 0, unavailable(ctx, fmt.Errorf("count profiles: %w", err))
	}
	return n, nil
}

// liveProfiles are the conditions of every List; the partial indexes say the same.
const liveProfiles = `p.project_id = $1 AND p.merged_into IS NULL AND p.deleted_at IS NULL`

// listSQL is a compiled List: the conditions that narrow it (none: every live profile) and
// their arguments, $1 being the project.
type listSQL struct {
	conds string
	args  []any
}

func compileList(projectID string, q profiles.Query) (listSQL, error) {
	l := listSQL{args: []any{projectID}}
	var conds []string
	if cond, args := compileQuery(q.Text, len(l.args)+1); cond != "" {
		conds = append(conds, cond)
		l.args = append(l.args, args...)
	}
	if len(q.Filters) > 0 {
		cond, args, err := compileFilters(filtersOf(q.Filters), len(l.args)+1)
		var fe *FilterError
		if errors.As(err, &fe) {
			return l, &identity.FieldError{Field: fe.Field, Reason: fe.Reason}
		}
		if err != nil {
			return l, err
		}
		if cond != "" {
			conds = append(conds, cond)
			l.args = append(l.args, args...)
		}
	}
	l.conds = strings.Join(conds, " AND ")
	return l, nil
}

func (l listSQL) where() string {
	if l.conds == "" {
		return liveProfiles
	}
	return liveProfiles + ` AND ` + l.conds
}

// binder numbers the arguments a statement adds after the compiled ones.
type binder struct{ args []any }

func (l listSQL) binder() *binder { return &binder{args: append([]any(nil), l.args...)} }

func (b *binder) bind(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// after and window cut the page, newest id first.
func (b *binder) after(q profiles.Query) string {
	if q.After == "" {
		return "true"
	}
	return "id < " + b.bind(q.After)
}

func (b *binder) window(q profiles.Query) string {
	return "ORDER BY id DESC LIMIT " + b.bind(q.Limit) + " OFFSET " + b.bind(q.Offset)
}

// walk reads the page from the newest live profiles down, looking at no more than budget of
// them (0: no bound, for a List without conditions).
func (r *ProfileReader) walk(ctx context.Context, l listSQL, q profiles.Query, budget int) ([]profiles.Record, error) {
	b := l.binder()
	var sql string
	if budget == 0 {
		sql = `SELECT ` + profileColumns + `, 0 FROM profiles p WHERE ` + l.where() + ` AND ` + b.after(q) + ` ` + b.window(q)
	} else {
		sql = `SELECT ` + profileColumns + `, 0 FROM (SELECT * FROM profiles p WHERE ` + liveProfiles + ` AND ` + b.after(q) +
			` ORDER BY id DESC LIMIT ` + b.bind(budget) + `) p WHERE ` + l.conds + ` ` + b.window(q)
	}
	rows, err := r.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("list profiles: %w", err))
	}
	recs, _, err := scanRecords(rows)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("list profiles: %w", err))
	}
	return recs, nil
}

// collect gathers the matches, at most limit+1 of them (0: all), counts them and cuts the page
// from them. The count is exact unless it is limit+1, when the page is not the newest matches
// and only says there are more than limit.
func (r *ProfileReader) collect(ctx context.Context, l listSQL, q profiles.Query, limit int) ([]profiles.Record, int, error) {
	b := l.binder()
	matches := `SELECT p.id FROM profiles p WHERE ` + l.where()
	if limit > 0 {
		matches += ` LIMIT ` + b.bind(limit+1)
	}
	counted := len(b.args)
	sql := `WITH matches AS MATERIALIZED (` + matches + `),
page AS (SELECT id FROM matches WHERE ` + b.after(q) + ` ` + b.window(q) + `)
SELECT ` + profileColumns + `, (SELECT count(*) FROM matches)
FROM page JOIN profiles p ON p.project_id = $1 AND p.id = page.id
ORDER BY p.id DESC`
	rows, err := r.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, 0, unavailable(ctx, fmt.Errorf("list profiles: %w", err))
	}
	recs, n, err := scanRecords(rows)
	if err != nil {
		return nil, 0, unavailable(ctx, fmt.Errorf("list profiles: %w", err))
	}
	if len(recs) == 0 { // a page past the last match carries no count
		err := r.pool.QueryRow(ctx, `SELECT count(*) FROM (`+matches+`) m`, b.args[:counted]...).Scan(&n)
		if err != nil {
			return nil, 0, unavailable(ctx, fmt.Errorf("count profiles: %w", err))
		}
	}
	return recs, n, nil
}

// scanRecords reads rows of profileColumns and a count, and returns the count of the last row.
func scanRecords(rows pgx.Rows) ([]profiles.Record, int, error) {
	var recs []profiles.Record
	var rec profiles.Record
	var merged string
	var n int
	_, err := pgx.ForEachRow(rows, []any{&rec.ID, &rec.ExternalID, &rec.Traits, &rec.Deleted,
		&rec.CreatedAt, &rec.UpdatedAt, &merged, &rec.DistinctIDs, &n}, func() error {
		recs = append(recs, rec)
		rec = profiles.Record{}
		return nil
	})
	return recs, n, err
}
