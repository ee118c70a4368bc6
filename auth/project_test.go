package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/auth"
)

// refusingStore fails the test when the Manager reaches it: validation must come first.
type refusingStore struct{ t *testing.T }

func (s refusingStore) fail() error {
	s.t.Error("the store was called for an invalid request")
	return errors.New("unreachable")
}
func (s refusingStore) CreateProject(context.Context, auth.Project, []auth.KeyRecord) error {
	return s.fail()
}
func (s refusingStore) CreateKey(context.Context, auth.KeyRecord) error { return s.fail() }
func (s refusingStore) ListKeys(context.Context, string) ([]auth.KeyInfo, error) {
	return nil, s.fail()
}
func (s refusingStore) RevokeKey(context.Context, string, string) error { return s.fail() }
func (s refusingStore) ListProjects(context.Context) ([]auth.Project, error) {
	return nil, s.fail()
}

func TestManagerValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewManager(refusingStore{t})
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"empty project name", func() error { _, _, _, err := m.CreateProject(ctx, ""); return err }},
		{"blank project name", func() error { _, _, _, err := m.CreateProject(ctx, " \t "); return err }},
		{"201-byte project name", func() error { _, _, _, err := m.CreateProject(ctx, strings.Repeat("é", 100)+"x"); return err }},
		{"control character", func() error { _, _, _, err := m.CreateProject(ctx, "a\x00b"); return err }},
		{"invalid UTF-8", func() error { _, _, _, err := m.CreateProject(ctx, "a\xffb"); return err }},
		{"empty key name", func() error { _, err := m.CreateKey(ctx, "proj_x", auth.KindSDK, ""); return err }},
		{"unknown kind", func() error { _, err := m.CreateKey(ctx, "proj_x", "admin", "k"); return err }},
		{"empty project id", func() error { _, err := m.CreateKey(ctx, "", auth.KindSDK, "k"); return err }},
		{"project id with a space", func() error { _, err := m.ListKeys(ctx, "proj x"); return err }},
		{"empty key id", func() error { return m.RevokeKey(ctx, "proj_x", "") }},
	} {
		err := tc.do()
		if !errors.Is(err, auth.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", tc.name, err)
			continue
		}
		if code := auth.ConnectError(err).Code(); code != connect.CodeInvalidArgument {
			t.Errorf("%s: code %v, want invalid_argument", tc.name, code)
		}
	}
}

// captureStore records what the Manager hands to CreateProject.
type captureStore struct {
	refusingStore
	project *auth.Project
	keys    *[]auth.KeyRecord
}

func (s captureStore) CreateProject(_ context.Context, p auth.Project, keys []auth.KeyRecord) error {
	*s.project, *s.keys = p, keys
	return nil
}

func TestManagerCreateProject(t *testing.T) {
	t.Parallel()
	var stored auth.Project
	var records []auth.KeyRecord
	m := auth.NewManager(captureStore{refusingStore{t}, &stored, &records})
	name := strings.Repeat("n", auth.MaxNameBytes) // the bound is inclusive
	p, sdk, secret, err := m.CreateProject(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	if !strings.HasPrefix(p.ID, "proj_") || len(p.ID) != len("proj_")+16 || p.Name != name || p.CreatedAt.IsZero() {
		t.Errorf("project %+v: want proj_ + 16 characters, the name, a creation time", p)
	}
	if diff := cmp.Diff(p, stored); diff != "" {
		t.Errorf("stored project (-returned +stored):\n%s", diff)
	}
	want := []auth.KeyRecord{
		{ID: sdk.ID, ProjectID: p.ID, Kind: auth.KindSDK, Name: sdk.Name, SecretHash: sdk.SecretHash, CreatedAt: p.CreatedAt},
		{ID: secret.ID, ProjectID: p.ID, Kind: auth.KindSecret, Name: secret.Name, SecretHash: secret.SecretHash, CreatedAt: p.CreatedAt},
	}
	if diff := cmp.Diff(want, records); diff != "" {
		t.Errorf("stored keys (-want +got):\n%s", diff)
	}
	for _, k := range []auth.Key{sdk, secret} {
		if k.ProjectID != p.ID || k.Name == "" || k.Token == "" {
			t.Errorf("returned key %v lacks its project, name or token", k)
		}
	}
}
