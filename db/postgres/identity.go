package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poluruprvn/profiles/identity"
)

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
	seen := make(map[string]bool, len(ids)) // a scan of out per id was quadratic in an ObserveAll's hundreds
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
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
	if ctx.Err() != nil {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !serverUnavailable(pgErr.Code) {
		return err // a query the server refused: not an outage
	}
	return fmt.Errorf("%w: %w", identity.ErrUnavailable, err)
}

// serverUnavailable reports SQLSTATEs of a server that cannot serve now: connection
// exceptions (08), insufficient resources such as too many clients (53), and operator
// intervention such as a shutdown (57P).
func serverUnavailable(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57P")
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
