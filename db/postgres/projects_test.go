package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
)

func setupProjects(t *testing.T) (*postgres.ProjectStore, *auth.Manager) {
	t.Helper()
	store := postgres.NewProjectStore(pgtest.New(t))
	return store, auth.NewManager(store)
}

func TestProjectStoreCreateListLookupRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, m := setupProjects(t)

	p, sdk, secret, err := m.CreateProject(ctx, "Acme")
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	projects, err := store.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]auth.Project{p}, projects); diff != "" {
		t.Errorf("ListProjects (-want +got):\n%s", diff)
	}

	keys, err := store.ListKeys(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.KeyInfo{
		{ID: sdk.ID, ProjectID: p.ID, Kind: auth.KindSDK, Name: sdk.Name, CreatedAt: p.CreatedAt},
		{ID: secret.ID, ProjectID: p.ID, Kind: auth.KindSecret, Name: secret.Name, CreatedAt: p.CreatedAt},
	}
	byID := cmpopts.SortSlices(func(a, b auth.KeyInfo) bool { return a.ID < b.ID })
	if diff := cmp.Diff(want, keys, byID); diff != "" {
		t.Errorf("ListKeys (-want +got):\n%s", diff)
	}

	for _, k := range []auth.Key{sdk, secret} {
		got, err := store.LookupKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("LookupKey(%s): %v", k.ID, err)
		}
		wantStored := auth.StoredKey{ID: k.ID, ProjectID: p.ID, Kind: k.Kind, SecretHash: k.SecretHash}
		if diff := cmp.Diff(wantStored, got); diff != "" {
			t.Errorf("LookupKey (-want +got):\n%s", diff)
		}
		_, _, secretPart, err := auth.ParseToken(k.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !auth.VerifySecret(got.SecretHash, secretPart) {
			t.Errorf("the stored hash of %s does not verify its token's secret", k.ID)
		}
	}

	before := time.Now()
	if err := store.RevokeKey(ctx, p.ID, secret.ID); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	got, err := store.LookupKey(ctx, secret.ID)
	if err != nil || !got.Revoked {
		t.Fatalf("LookupKey after revoke = %+v, %v; want revoked", got, err)
	}
	if got, _ := store.LookupKey(ctx, sdk.ID); got.Revoked {
		t.Error("revoking one key revoked its sibling")
	}
	keys, err = store.ListKeys(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(keys, func(k auth.KeyInfo) bool { return k.ID == secret.ID })
	if i < 0 {
		t.Fatalf("ListKeys lost %s: %+v", secret.ID, keys)
	}
	firstRevoked := keys[i].RevokedAt
	if !keys[i].Revoked() || firstRevoked.Before(before.Add(-time.Minute)) {
		t.Errorf("listed key %+v: want revoked just now", keys[i])
	}
	if err := store.RevokeKey(ctx, p.ID, secret.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	keys, _ = store.ListKeys(ctx, p.ID)
	if i := slices.IndexFunc(keys, func(k auth.KeyInfo) bool { return k.ID == secret.ID }); !keys[i].RevokedAt.Equal(firstRevoked) {
		t.Errorf("revoking twice moved the revocation time from %v to %v", firstRevoked, keys[i].RevokedAt)
	}

	added, err := m.CreateKey(ctx, p.ID, auth.KindSecret, "ci")
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if got, err := store.LookupKey(ctx, added.ID); err != nil || got.ProjectID != p.ID || got.Kind != auth.KindSecret {
		t.Errorf("LookupKey(new key) = %+v, %v", got, err)
	}
	if keys, _ := store.ListKeys(ctx, p.ID); len(keys) != 3 {
		t.Errorf("ListKeys after CreateKey: %d keys, want 3", len(keys))
	}
}

func TestProjectStoreIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, m := setupProjects(t)
	a, sdkA, secretA, err := m.CreateProject(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := m.CreateProject(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}

	if err := store.RevokeKey(ctx, b.ID, secretA.ID); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Fatalf("B revoking A's key: %v, want ErrKeyNotFound", err)
	}
	if got, _ := store.LookupKey(ctx, secretA.ID); got.Revoked {
		t.Fatal("B revoked A's key")
	}
	keysB, err := store.ListKeys(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keysB {
		if k.ProjectID != b.ID || k.ID == sdkA.ID || k.ID == secretA.ID {
			t.Errorf("B's key list holds %+v", k)
		}
	}
	if len(keysB) != 2 {
		t.Errorf("B has %d keys, want 2", len(keysB))
	}
	got, err := store.LookupKey(ctx, sdkA.ID)
	if err != nil || got.ProjectID != a.ID {
		t.Errorf("A's key resolves to %+v, %v; want project %s", got, err, a.ID)
	}
}

func TestProjectStoreNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, m := setupProjects(t)
	p, _, _, err := m.CreateProject(ctx, "only")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.LookupKey(ctx, "key_missing"); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("LookupKey(missing) = %v, want ErrKeyNotFound", err)
	}
	if _, err := store.ListKeys(ctx, "proj_missing"); !errors.Is(err, auth.ErrProjectNotFound) {
		t.Errorf("ListKeys(missing project) = %v, want ErrProjectNotFound", err)
	}
	if _, err := m.CreateKey(ctx, "proj_missing", auth.KindSDK, "k"); !errors.Is(err, auth.ErrProjectNotFound) {
		t.Errorf("CreateKey(missing project) = %v, want ErrProjectNotFound", err)
	}
	if err := store.RevokeKey(ctx, p.ID, "key_missing"); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("RevokeKey(missing key) = %v, want ErrKeyNotFound", err)
	}
}

// TestProjectStoreCreateProjectAtomic: a project whose second key cannot be written leaves
// neither the project nor its first key behind.
func TestProjectStoreCreateProjectAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := setupProjects(t)
	k, err := auth.NewKey(auth.KindSDK)
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Project{ID: "proj_atomic", Name: "half"}
	rec := auth.KeyRecord{ID: k.ID, ProjectID: p.ID, Kind: k.Kind, Name: "k", SecretHash: k.SecretHash}
	if err := store.CreateProject(ctx, p, []auth.KeyRecord{rec, rec}); err == nil {
		t.Fatal("CreateProject with a duplicate key id succeeded")
	}
	if ps, err := store.ListProjects(ctx); err != nil || len(ps) != 0 {
		t.Errorf("after a failed create: projects %+v, %v; want none", ps, err)
	}
	if _, err := store.LookupKey(ctx, k.ID); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("after a failed create: LookupKey = %v, want ErrKeyNotFound", err)
	}
	// Without a creation time the database clock fills it in.
	if err := store.CreateProject(ctx, p, []auth.KeyRecord{rec}); err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	if ps, _ := store.ListProjects(ctx); len(ps) != 1 || ps[0].CreatedAt.IsZero() {
		t.Errorf("projects %+v: want one with a creation time", ps)
	}
}
