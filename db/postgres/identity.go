package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/identity"
)

// ChangePublisher enqueues the projection of a change inside the transaction that makes it
// (River's InsertTx), so the job exists if and only if the change commits.
type ChangePublisher interface {
	PublishTx(ctx context.Context, tx pgx.Tx, change identity.Change) error
}

// IdentityStore is the Postgres identity graph.
type IdentityStore struct {
	pool        *pgxpool.Pool
	publisher   ChangePublisher
	maxAttempts int
}

var _ identity.Store = (*IdentityStore)(nil)

// NewIdentityStore returns a store that publishes every committed change through publisher.
func NewIdentityStore(pool *pgxpool.Pool, publisher ChangePublisher) *IdentityStore {
	return &IdentityStore{pool: pool, publisher: publisher, maxAttempts: 12}
}

// Update implements identity.Store. One attempt is a transaction that (1) takes transaction-
// scoped advisory locks on every id in sorted order, (2) locks the profiles those ids point at,
// ordered by id, (3) re-reads the mapping and takes the change's version, and retries if a
// concurrent merge moved an id in between. Lock order is always ids, then profiles.
func (s *IdentityStore) Update(ctx context.Context, req identity.UpdateRequest, decide func(*identity.State) (*identity.Plan, error)) (identity.Result, error) {
	ids := compactIDs(req.DistinctIDs)
	keys := lockKeys(req, ids)
	for attempt := 0; ; attempt++ {
		res, err := s.attempt(ctx, req, ids, keys, decide)
		if err == nil || !retryable(err) {
			return res, err
		}
		if attempt+1 >= s.maxAttempts {
			return identity.Result{}, fmt.Errorf("%w: %d attempts, last: %v", identity.ErrContention, attempt+1, err)
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return identity.Result{}, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

const (
	sqlLockKeys = `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`

	sqlReplay = `SELECT response FROM idempotency_keys WHERE project_id = $1 AND method = $2 AND message_id = $3`

	sqlLockProfiles = `
SELECT id, coalesce(external_id, ''), traits, overrides, coalesce(merged_into, ''), deleted_at IS NOT NULL, version
FROM profiles
WHERE project_id = $1
  -- One array, so the primary key serves the lookup (an OR of IN and ANY scans the project).
  AND id = ANY(ARRAY(SELECT profile_id FROM distinct_ids WHERE project_id = $1 AND distinct_id = ANY($2))
               || coalesce($3::text[], '{}'))
ORDER BY id
FOR UPDATE`

	// Runs after the profile locks: it sees merges that committed while we waited, and its
	// nextval orders this change after every change that held one of our locks before us.
	sqlMappingAndVersion = `
SELECT nextval('change_seq'),
       coalesce(array_agg(distinct_id), '{}'),
       coalesce(array_agg(profile_id), '{}')
FROM distinct_ids
WHERE project_id = $1 AND distinct_id = ANY($2)`

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

func (s *IdentityStore) attempt(ctx context.Context, req identity.UpdateRequest, ids []string, keys []int64, decide func(*identity.State) (*identity.Plan, error)) (identity.Result, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return identity.Result{}, unavailable(ctx, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	st, replay, err := load(ctx, tx, req, ids, keys)
	if err != nil || replay != nil {
		if replay != nil {
			return *replay, nil
		}
		return identity.Result{}, err
	}
	plan, err := decide(st)
	if err != nil {
		return identity.Result{}, err
	}
	if len(plan.Upserts) == 0 && len(plan.Links) == 0 && req.MessageID == "" {
		return plan.Result, nil // nothing to write
	}
	change, err := apply(ctx, tx, req, st, plan)
	if err != nil {
		return identity.Result{}, err
	}
	if len(change.Profiles) > 0 || len(change.Mappings) > 0 {
		if err := s.publisher.PublishTx(ctx, tx, change); err != nil {
			return identity.Result{}, fmt.Errorf("enqueue projection: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return identity.Result{}, unavailable(ctx, fmt.Errorf("commit: %w", err))
	}
	return plan.Result, nil
}

// load runs the locking reads of one attempt in a single round trip.
func load(ctx context.Context, tx pgx.Tx, req identity.UpdateRequest, ids []string, keys []int64) (*identity.State, *identity.Result, error) {
	b := &pgx.Batch{}
	b.Queue(sqlLockKeys, keys)
	if req.MessageID != "" {
		b.Queue(sqlReplay, req.ProjectID, req.Method, req.MessageID)
	}
	b.Queue(sqlLockProfiles, req.ProjectID, ids, req.ProfileIDs)
	b.Queue(sqlMappingAndVersion, req.ProjectID, ids)
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	if _, err := br.Exec(); err != nil {
		return nil, nil, fmt.Errorf("lock ids: %w", err)
	}
	if req.MessageID != "" {
		var res identity.Result
		err := br.QueryRow().Scan(&res)
		if err == nil {
			res.Replayed = true
			return nil, &res, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, fmt.Errorf("look up message id: %w", err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("lock profiles: %w", err)
	}
	byID := map[string]*identity.Profile{}
	var p identity.Profile
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.ExternalID, &p.Traits, &p.Overrides, &p.MergedInto, &p.Deleted, &p.Version}, func() error {
		cp := p
		byID[p.ID] = &cp
		p.Traits, p.Overrides = nil, nil
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lock profiles: %w", err)
	}
	st := &identity.State{Profiles: map[string]*identity.Profile{}, ByID: byID, Now: time.Now().UTC()}
	var mappedIDs, mappedProfiles []string
	if err := br.QueryRow().Scan(&st.Version, &mappedIDs, &mappedProfiles); err != nil {
		return nil, nil, fmt.Errorf("read mapping: %w", err)
	}
	for i, id := range mappedIDs {
		prof, ok := byID[mappedProfiles[i]]
		if !ok || prof.MergedInto != "" {
			return nil, nil, identity.ErrRetry // a merge moved this id after we read it
		}
		st.Profiles[id] = prof
	}
	return st, nil, nil
}

// apply writes a plan in a single round trip and returns the change to project.
func apply(ctx context.Context, tx pgx.Tx, req identity.UpdateRequest, st *identity.State, plan *identity.Plan) (identity.Change, error) {
	change := identity.Change{ProjectID: req.ProjectID, Version: st.Version}
	b := &pgx.Batch{}
	for _, p := range plan.Upserts {
		snap := identity.SnapshotOf(p, st.Now)
		b.Queue(sqlUpsertProfile, req.ProjectID, p.ID, p.ExternalID, p.Traits, p.Overrides, p.MergedInto,
			p.Deleted, p.Version, snap.Traits, searchText(p.ExternalID, snap.Traits))
		change.Profiles = append(change.Profiles, snap)
	}
	for _, m := range plan.Merges {
		b.Queue(sqlMoveDistinctIDs, req.ProjectID, m.From, m.Into, st.Version).Query(func(rows pgx.Rows) error {
			moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
			for _, id := range moved {
				change.Mappings = append(change.Mappings, identity.Mapping{DistinctID: id, ProfileID: m.Into, Version: st.Version})
			}
			return err
		})
	}
	for _, l := range plan.Links {
		b.Queue(sqlLinkDistinctID, req.ProjectID, l.DistinctID, l.ProfileID, st.Version)
		change.Mappings = append(change.Mappings, identity.Mapping{DistinctID: l.DistinctID, ProfileID: l.ProfileID, Version: st.Version})
	}
	if req.MessageID != "" {
		b.Queue(sqlRemember, req.ProjectID, req.Method, req.MessageID, plan.Result)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return change, fmt.Errorf("apply identity change: %w", err)
	}
	change.Mappings = lastPerID(change.Mappings)
	return change, nil
}

// lastPerID keeps one mapping per distinct id, the last written.
func lastPerID(ms []identity.Mapping) []identity.Mapping {
	seen := make(map[string]int, len(ms))
	out := ms[:0]
	for _, m := range ms {
		if i, ok := seen[m.DistinctID]; ok {
			out[i] = m
			continue
		}
		seen[m.DistinctID] = len(out)
		out = append(out, m)
	}
	return out
}

func compactIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// lockKeys hashes each id (and the message id) into an advisory lock key, sorted so every
// transaction takes its locks in the same order. A collision only serialises two unrelated ids.
func lockKeys(req identity.UpdateRequest, ids []string) []int64 {
	keys := make([]int64, 0, len(ids)+1)
	for _, id := range ids {
		keys = append(keys, lockKey(req.ProjectID, "d", id))
	}
	if req.MessageID != "" {
		keys = append(keys, lockKey(req.ProjectID, "m:"+req.Method, req.MessageID))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func lockKey(project, kind, id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return int64(h.Sum64())
}

// retryable reports failures that a fresh attempt can succeed past: deadlocks, serialization
// failures, a unique violation from a concurrent insert, and a mapping that moved under us.
func retryable(err error) bool {
	if errors.Is(err, identity.ErrRetry) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "23505", "55P03":
			return true
		}
	}
	return false
}

// unavailable marks errors of an unreachable or failing server (as opposed to a query it
// refused) so the API answers unavailable: nothing was written and a retry may succeed.
func unavailable(ctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	if ctx.Err() != nil || errors.As(err, &pgErr) {
		return err
	}
	return fmt.Errorf("%w: %w", identity.ErrUnavailable, err)
}

// PruneIdempotencyKeys deletes message-id answers older than olderThan, at most limit rows.
func (s *IdentityStore) PruneIdempotencyKeys(ctx context.Context, olderThan time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
DELETE FROM idempotency_keys WHERE ctid IN (
    SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`, olderThan, limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
