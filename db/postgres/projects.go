package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/auth"
)

// ProjectStore keeps projects and their API keys (tables projects and api_keys). It stores a
// key's SHA-256 secret hash only, never its token.
type ProjectStore struct {
	pool *pgxpool.Pool
}

var (
	_ auth.KeyStore     = (*ProjectStore)(nil)
	_ auth.ProjectStore = (*ProjectStore)(nil)
)

// NewProjectStore returns a ProjectStore on pool.
func NewProjectStore(pool *pgxpool.Pool) *ProjectStore {
	return &ProjectStore{pool: pool}
}

const insertProjectSQL = `INSERT INTO projects (id, name, created_at) VALUES ($1, $2, coalesce($3::timestamptz, now()))`

const insertKeySQL = `
INSERT INTO api_keys (id, project_id, kind, name, secret_hash, created_at)
VALUES ($1, $2, $3, $4, $5, coalesce($6::timestamptz, now()))`

// CreateProject inserts the project and its first keys in one transaction.
func (s *ProjectStore) CreateProject(ctx context.Context, p auth.Project, keys []auth.KeyRecord) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertProjectSQL, p.ID, p.Name, createdAt(p.CreatedAt)); err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
		for _, k := range keys {
			if k.ProjectID != p.ID {
				return fmt.Errorf("key %s names project %s, not %s", k.ID, k.ProjectID, p.ID)
			}
			if err := insertKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create project %s: %w", p.ID, err)
	}
	return nil
}

// CreateKey inserts a key; auth.ErrProjectNotFound when its project does not exist.
func (s *ProjectStore) CreateKey(ctx context.Context, k auth.KeyRecord) error {
	err := insertKey(ctx, s.pool, k)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("create key in %s: %w", k.ProjectID, auth.ErrProjectNotFound)
	}
	return err
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertKey(ctx context.Context, db execer, k auth.KeyRecord) error {
	if len(k.SecretHash) == 0 {
		return fmt.Errorf("key %s has no secret hash", k.ID)
	}
	_, err := db.Exec(ctx, insertKeySQL, k.ID, k.ProjectID, string(k.Kind), k.Name, k.SecretHash, createdAt(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert key %s: %w", k.ID, err)
	}
	return nil
}

// LookupKey returns a key by id, revoked or not; auth.ErrKeyNotFound when there is none.
func (s *ProjectStore) LookupKey(ctx context.Context, id string) (auth.StoredKey, error) {
	var k auth.StoredKey
	var kind string
	err := s.pool.QueryRow(ctx, `
SELECT id, project_id, kind, secret_hash, revoked_at IS NOT NULL
FROM api_keys WHERE id = $1`, id).Scan(&k.ID, &k.ProjectID, &kind, &k.SecretHash, &k.Revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.StoredKey{}, auth.ErrKeyNotFound
	}
	if err != nil {
		return auth.StoredKey{}, fmt.Errorf("look up key: %w", err)
	}
	if k.Kind, err = auth.ParseKind(kind); err != nil {
		return auth.StoredKey{}, fmt.Errorf("key %s: stored kind %q: %w", id, kind, err)
	}
	return k, nil
}

// ListKeys lists a project's keys, oldest first; auth.ErrProjectNotFound when there is no such
// project.
func (s *ProjectStore) ListKeys(ctx context.Context, projectID string) ([]auth.KeyInfo, error) {
	// One statement, so "no project" and "no keys" are told apart in one snapshot: the project
	// row comes back once with NULL key columns when it has no keys.
	rows, err := s.pool.Query(ctx, `
SELECT k.id, k.kind, k.name, k.created_at, k.revoked_at
FROM projects p LEFT JOIN api_keys k ON k.project_id = p.id
WHERE p.id = $1
ORDER BY k.created_at, k.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	found := false
	keys := []auth.KeyInfo{}
	for rows.Next() {
		found = true
		var (
			id, kind, name *string
			created        *time.Time
			revoked        *time.Time
		)
		if err := rows.Scan(&id, &kind, &name, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		if id == nil {
			continue
		}
		k := auth.KeyInfo{ID: *id, ProjectID: projectID, Name: *name, CreatedAt: created.UTC()}
		if k.Kind, err = auth.ParseKind(*kind); err != nil {
			return nil, fmt.Errorf("key %s: stored kind %q: %w", *id, *kind, err)
		}
		if revoked != nil {
			k.RevokedAt = revoked.UTC()
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("list keys of %s: %w", projectID, auth.ErrProjectNotFound)
	}
	return keys, nil
}

// RevokeKey marks a key of the project revoked, keeping the first revocation time;
// auth.ErrKeyNotFound when the project has no such key.
func (s *ProjectStore) RevokeKey(ctx context.Context, projectID, keyID string) error {
	tag, err := s.pool.Exec(ctx, `
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE project_id = $1 AND id = $2`, projectID, keyID)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s of %s: %w", keyID, projectID, auth.ErrKeyNotFound)
	}
	return nil
}

// ListProjects lists every project, oldest first.
func (s *ProjectStore) ListProjects(ctx context.Context) ([]auth.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	projects, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Project, error) {
		var p auth.Project
		err := row.Scan(&p.ID, &p.Name, &p.CreatedAt)
		p.CreatedAt = p.CreatedAt.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return projects, nil
}

// createdAt lets the database clock stand in for a zero time.
func createdAt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
