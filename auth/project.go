package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds project and key names.
const MaxNameBytes = 200

// Project is a tenant. Every row, key, job and query belongs to exactly one.
type Project struct {
	ID        string // "proj_" + 16 base62 characters
	Name      string
	CreatedAt time.Time
}

// KeyRecord is a key as a ProjectStore writes it: everything but the token.
type KeyRecord struct {
	ID         string
	ProjectID  string
	Kind       Kind
	Name       string
	SecretHash []byte
	CreatedAt  time.Time
}

// KeyInfo is a key as listings show it: no token and no hash.
type KeyInfo struct {
	ID        string
	ProjectID string
	Kind      Kind
	Name      string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is live
}

// Revoked reports whether the key has been revoked.
func (k KeyInfo) Revoked() bool { return !k.RevokedAt.IsZero() }

// ProjectStore keeps projects and their keys.
type ProjectStore interface {
	// CreateProject stores p and its first keys in one transaction: either all exist
	// afterwards or none does.
	CreateProject(ctx context.Context, p Project, keys []KeyRecord) error
	// CreateKey adds a key to an existing project; ErrProjectNotFound when there is none.
	CreateKey(ctx context.Context, k KeyRecord) error
	// ListKeys lists a project's keys, revoked ones included, oldest first;
	// ErrProjectNotFound when there is no such project.
	ListKeys(ctx context.Context, projectID string) ([]KeyInfo, error)
	// RevokeKey revokes a key of the project. Revoking a revoked key changes nothing and
	// succeeds. ErrKeyNotFound when the project has no key with this id (another project's key
	// included: nothing crosses projects).
	RevokeKey(ctx context.Context, projectID, keyID string) error
	// ListProjects lists every project, oldest first.
	ListProjects(ctx context.Context) ([]Project, error)
}

// Manager creates projects and manages their keys: what the `profiles projects` and
// `profiles keys` commands call.
type Manager struct {
	store ProjectStore
	now   func() time.Time
}

// NewManager returns a Manager over store.
func NewManager(store ProjectStore) *Manager {
	return &Manager{store: store, now: time.Now}
}

// CreateProject creates a project with one SDK key and one secret key, all in one transaction.
// The keys' tokens are in the returned Keys and nowhere else: show them once.
func (m *Manager) CreateProject(ctx context.Context, name string) (p Project, sdk, secret Key, err error) {
	if err := validateName("name", name); err != nil {
		return Project{}, Key{}, Key{}, err
	}
	suffix, err := randomBase62(idLen)
	if err != nil {
		return Project{}, Key{}, Key{}, err
	}
	p = Project{ID: "proj_" + suffix, Name: name, CreatedAt: m.timestamp()}
	if sdk, err = m.newKey(p.ID, KindSDK, "default sdk key"); err != nil {
		return Project{}, Key{}, Key{}, err
	}
	if secret, err = m.newKey(p.ID, KindSecret, "default secret key"); err != nil {
		return Project{}, Key{}, Key{}, err
	}
	records := []KeyRecord{m.record(sdk, p.CreatedAt), m.record(secret, p.CreatedAt)}
	if err := m.store.CreateProject(ctx, p, records); err != nil {
		return Project{}, Key{}, Key{}, fmt.Errorf("create project: %w", err)
	}
	return p, sdk, secret, nil
}

// CreateKey adds a key to a project. The token is in the returned Key only: show it once.
func (m *Manager) CreateKey(ctx context.Context, projectID string, kind Kind, name string) (Key, error) {
	if err := validateID("project id", projectID); err != nil {
		return Key{}, err
	}
	if _, err := ParseKind(string(kind)); err != nil {
		return Key{}, err
	}
	if err := validateName("name", name); err != nil {
		return Key{}, err
	}
	k, err := m.newKey(projectID, kind, name)
	if err != nil {
		return Key{}, err
	}
	if err := m.store.CreateKey(ctx, m.record(k, m.timestamp())); err != nil {
		return Key{}, fmt.Errorf("create key: %w", err)
	}
	return k, nil
}

// ListKeys lists a project's keys, revoked ones included.
func (m *Manager) ListKeys(ctx context.Context, projectID string) ([]KeyInfo, error) {
	if err := validateID("project id", projectID); err != nil {
		return nil, err
	}
	keys, err := m.store.ListKeys(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes a key of a project. Processes that cached the key stop accepting it within
// their KeyCache TTL.
func (m *Manager) RevokeKey(ctx context.Context, projectID, keyID string) error {
	if err := validateID("project id", projectID); err != nil {
		return err
	}
	if err := validateID("key id", keyID); err != nil {
		return err
	}
	if err := m.store.RevokeKey(ctx, projectID, keyID); err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// ListProjects lists every project.
func (m *Manager) ListProjects(ctx context.Context) ([]Project, error) {
	ps, err := m.store.ListProjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

func (m *Manager) newKey(projectID string, kind Kind, name string) (Key, error) {
	k, err := NewKey(kind)
	if err != nil {
		return Key{}, err
	}
	k.ProjectID, k.Name = projectID, name
	return k, nil
}

func (m *Manager) record(k Key, at time.Time) KeyRecord {
	return KeyRecord{ID: k.ID, ProjectID: k.ProjectID, Kind: k.Kind, Name: k.Name, SecretHash: k.SecretHash, CreatedAt: at}
}

// timestamp is now at the precision Postgres keeps, so a value written and read back compares
// equal.
func (m *Manager) timestamp() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// validateName accepts 1 to MaxNameBytes bytes of valid UTF-8 without control characters, and
// not only whitespace.
func validateName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%w: %s must not be empty", ErrInvalidArgument, field)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidArgument, field, MaxNameBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidArgument, field)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%w: %s contains control characters", ErrInvalidArgument, field)
	}
	return nil
}

// validateID is validateName for ids, which also may not contain spaces.
func validateID(field, s string) error {
	if err := validateName(field, s); err != nil {
		return err
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Errorf("%w: %s contains whitespace", ErrInvalidArgument, field)
	}
	return nil
}
