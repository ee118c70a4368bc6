package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poluruprvn/profiles/identity"
)

const (
	sqlLockKeys = `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`

	sqlReplays = `
SELECT method, message_id, response FROM idempotency_keys
WHERE project_id = $1 AND (method, message_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`

	sqlLockProfiles = `
SELECT id, coalesce(external_id, ''), traits, overrides, coalesce(merged_into, ''), deleted_at IS NOT NULL, version
FROM profiles
WHERE project_id = $1
  -- One array, so the primary key serves the lookup (an OR of IN and ANY scans the project).
  AND id = ANY(ARRAY(SELECT profile_id FROM distinct_ids WHERE project_id = $1 AND distinct_id = ANY($2))
               || coalesce($3::text[], '{}'))
ORDER BY id
FOR UPDATE`

	// Runs after the profile locks, so it sees merges that committed while we waited.
	sqlMapping = `SELECT distinct_id, profile_id FROM distinct_ids WHERE project_id = $1 AND distinct_id = ANY($2)`

	// Taken last, after every lock: this group's version is higher than that of any change
	// that held one of its locks before it.
	sqlNextVersion = `SELECT nextval('change_seq')`

	sqlUpsertProfile = `
INSERT INTO profiles (project_id, id, external_id, traits, overrides, merged_into, deleted_at, version, effective, search)
VALUES ($1, $2, nullif($3, ''), $4, $5, nullif($6, ''), CASE WHEN $7 THEN now() END, $8, $9, $10)
ON CONFLICT (project_id, id) DO UPDATE
SET external_id = excluded.external_id, traits = excluded.traits, overrides = excluded.overrides,
    merged_into = excluded.merged_into, version = excluded.version, effective = excluded.effective,
    search = excluded.search, updated_at = now(),
    deleted_at = CASE WHEN $7 THEN coalesce(profiles.deleted_at, now()) END`

	sqlMoveDistinctIDs = `
UPDATE distinct_ids SET profile_id = $3, version = $4
WHERE project_id = $1 AND profile_id = $2
RETURNING distinct_id`

	sqlLinkDistinctID = `
INSERT INTO distinct_ids (project_id, distinct_id, profile_id, version) VALUES ($1, $2, $3, $4)
ON CONFLICT (project_id, distinct_id) DO UPDATE SET profile_id = excluded.profile_id, version = excluded.version`

	sqlRemember = `INSERT INTO idempotency_keys (project_id, method, message_id, response) VALUES ($1, $2, $3, $4)`
)

// project is the part of a group that touches one project: its own State.
type project struct {
	id         string
	ids        []string // distinct ids
	profileIDs []string
	messages   [][2]string // (method, message id)
	state      *identity.State
	replays    map[[2]string]identity.Result
	touched    []*identity.Profile
	mappings   []identity.Mapping
}

// tryGroup is one attempt at a group. It delivers results only when the transaction commits.
func (s *IdentityStore) tryGroup(ctx context.Context, group []*write) error {
	projects, keys := shape(group)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if err := load(ctx, tx, projects, keys); err != nil {
		return err
	}
	results, errs, plans, err := decideAll(group, projects)
	if err != nil {
		return err
	}
	if err := apply(ctx, tx, projects, plans, group, results, errs); err != nil {
		return err
	}
	var changes []identity.Change
	for _, p := range projects {
		if len(p.touched) > 0 || len(p.mappings) > 0 {
			changes = append(changes, p.change())
		}
	}
	if len(changes) > 0 {
		if err := s.publisher.PublishTx(ctx, tx, changes); err != nil {
			return fmt.Errorf("enqueue projection: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(ctx, fmt.Errorf("commit: %w", err))
	}
	for i, w := range group {
		w.res, w.err = results[i], errs[i]
		close(w.done)
	}
	return nil
}

// shape sorts a group's ids by project and derives its advisory lock keys, sorted so that
// every transaction takes them in the same order.
func shape(group []*write) (map[string]*project, []int64) {
	projects := map[string]*project{}
	var keys []int64
	for _, w := range group {
		p := projects[w.req.ProjectID]
		if p == nil {
			p = &project{id: w.req.ProjectID, replays: map[[2]string]identity.Result{}}
			projects[w.req.ProjectID] = p
		}
		ids := compactIDs(w.req.DistinctIDs)
		p.ids = append(p.ids, ids...)
		p.profileIDs = append(p.profileIDs, w.req.ProfileIDs...)
		if w.req.MessageID != "" {
			p.messages = append(p.messages, [2]string{w.req.Method, w.req.MessageID})
		}
		keys = append(keys, lockKeys(w.req, ids)...)
	}
	for _, p := range projects {
		p.ids = compactIDs(p.ids)
	}
	slices.Sort(keys)
	return projects, slices.Compact(keys)
}

// load runs the locking reads of a group in one round trip.
func load(ctx context.Context, tx pgx.Tx, projects map[string]*project, keys []int64) error {
	b := &pgx.Batch{}
	b.Queue(sqlLockKeys, keys)
	order := slices.Sorted(maps.Keys(projects)) // profile locks in (project, id) order
	byID := map[string]map[string]*identity.Profile{}
	mapped := map[string]map[string]string{}
	for _, pid := range order {
		p := projects[pid]
		if len(p.messages) > 0 {
			methods, mids := split(p.messages)
			b.Queue(sqlReplays, pid, methods, mids).Query(func(rows pgx.Rows) error {
				var m, id string
				var res identity.Result
				_, err := pgx.ForEachRow(rows, []any{&m, &id, &res}, func() error {
					res.Replayed = true
					p.replays[[2]string{m, id}] = res
					return nil
				})
				return err
			})
		}
		profiles := map[string]*identity.Profile{}
		byID[pid] = profiles
		b.Queue(sqlLockProfiles, pid, p.ids, p.profileIDs).Query(func(rows pgx.Rows) error {
			var r identity.Profile
			_, err := pgx.ForEachRow(rows, []any{&r.ID, &r.ExternalID, &r.Traits, &r.Overrides, &r.MergedInto, &r.Deleted, &r.Version}, func() error {
				cp := r
				profiles[r.ID] = &cp
				r.Traits, r.Overrides = nil, nil
				return nil
			})
			return err
		})
	}
	for _, pid := range order {
		m := map[string]string{}
		mapped[pid] = m
		b.Queue(sqlMapping, pid, projects[pid].ids).Query(func(rows pgx.Rows) error {
			var d, prof string
			_, err := pgx.ForEachRow(rows, []any{&d, &prof}, func() error { m[d] = prof; return nil })
			return err
		})
	}
	var version int64
	b.Queue(sqlNextVersion).QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(ctx, fmt.Errorf("lock identity graph: %w", err))
	}

	now := time.Now().UTC()
	for pid, p := range projects {
		st := &identity.State{Profiles: map[string]*identity.Profile{}, ByID: byID[pid], Version: version, Now: now}
		for d, prof := range mapped[pid] {
			r, ok := st.ByID[prof]
			if !ok || r.MergedInto != "" {
				return identity.ErrRetry // a merge moved this id after we read it
			}
			st.Profiles[d] = r
		}
		p.state = st
	}
	return nil
}

// decideAll runs each write's rule in order on its project's shared State; a write sees the
// writes before it in the group. A rule that fails is undone and fails alone.
func decideAll(group []*write, projects map[string]*project) ([]identity.Result, []error, []*identity.Plan, error) {
	results := make([]identity.Result, len(group))
	errs := make([]error, len(group))
	plans := make([]*identity.Plan, len(group))
	for i, w := range group {
		p := projects[w.req.ProjectID]
		key := [2]string{w.req.Method, w.req.MessageID}
		if w.req.MessageID != "" {
			if res, ok := p.replays[key]; ok {
				results[i] = res
				continue
			}
		}
		restore := p.state.Checkpoint()
		plan, err := w.decide(p.state)
		if errors.Is(err, identity.ErrRetry) {
			return nil, nil, nil, err // the rule saw a graph that moved: redo the group
		}
		if err != nil {
			restore()
			errs[i] = err
			continue
		}
		plans[i], results[i] = plan, plan.Result
		if w.req.MessageID != "" {
			replay := plan.Result
			replay.Replayed = true
			p.replays[key] = replay
		}
	}
	return results, errs, plans, nil
}

// apply writes every plan of a group in one round trip, in the order they were decided, and
// records what the projection must learn.
func apply(ctx context.Context, tx pgx.Tx, projects map[string]*project, plans []*identity.Plan, group []*write, results []identity.Result, errs []error) error {
	b := &pgx.Batch{}
	seen := map[*identity.Profile]bool{}
	for i, plan := range plans {
		if plan == nil {
			continue
		}
		w := group[i]
		p := projects[w.req.ProjectID]
		version := p.state.Version
		for _, prof := range plan.Upserts {
			if !seen[prof] {
				seen[prof] = true
				p.touched = append(p.touched, prof)
			}
		}
		for _, m := range plan.Merges {
			b.Queue(sqlMoveDistinctIDs, p.id, m.From, m.Into, version).Query(func(rows pgx.Rows) error {
				moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
				for _, id := range moved {
					p.mappings = append(p.mappings, identity.Mapping{DistinctID: id, ProfileID: m.Into, Version: version})
				}
				return err
			})
		}
		for _, l := range plan.Links {
			b.Queue(sqlLinkDistinctID, p.id, l.DistinctID, l.ProfileID, version)
			p.mappings = append(p.mappings, identity.Mapping{DistinctID: l.DistinctID, ProfileID: l.ProfileID, Version: version})
		}
		if w.req.MessageID != "" && errs[i] == nil {
			b.Queue(sqlRemember, p.id, w.req.Method, w.req.MessageID, results[i])
		}
	}
	// Profiles last, each once, in its final state: a later write of the group may have
	// changed a profile an earlier one touched.
	for _, p := range projects {
		for _, prof := range p.touched {
			effective := identity.Effective(prof.Traits, prof.Overrides)
			b.Queue(sqlUpsertProfile, p.id, prof.ID, prof.ExternalID, prof.Traits, prof.Overrides, prof.MergedInto,
				prof.Deleted, prof.Version, effective, SearchText(prof.ExternalID, effective))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(ctx, fmt.Errorf("apply identity changes: %w", err))
	}
	return nil
}

func (p *project) change() identity.Change {
	ids := make([]string, len(p.touched))
	for i, prof := range p.touched {
		ids[i] = prof.ID
	}
	return identity.Change{ProjectID: p.id, Version: p.state.Version, ProfileIDs: ids, Mappings: lastPerID(p.mappings)}
}

func split(pairs [][2]string) ([]string, []string) {
	a, b := make([]string, len(pairs)), make([]string, len(pairs))
	for i, p := range pairs {
		a[i], b[i] = p[0], p[1]
	}
	return a, b
}
