package postgres_test

import (
	"context"
	"testing"

	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
)

// TestSnapshotsReadTheCurrentState: the projection reads each named profile once, as it is
// now (overrides applied, deletes and merges included), within its own project only, and
// leaves out ids that name nothing.
func TestSnapshotsReadTheCurrentState(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	identify := func(project, external, anon, plan string) identity.Result {
		t.Helper()
		res, err := b.svc.Identify(ctx, project, identity.IdentifyRequest{ExternalID: external, AnonymousID: anon,
			Traits: identity.TraitOps{Set: identity.Traits{"plan": plan}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	u1 := identify("proj_a", "u1", "", "free")
	if _, err := b.svc.SetOverrides(ctx, "proj_a", u1.ProfileID, identity.Traits{"plan": "enterprise"}); err != nil {
		t.Fatal(err)
	}
	gone := identify("proj_a", "u2", "", "pro")
	if _, err := b.svc.Delete(ctx, "proj_a", gone.ProfileID); err != nil {
		t.Fatal(err)
	}
	other := identify("proj_b", "u1", "", "pro") // another tenant, its own profile

	changes := []identity.Change{
		{ProjectID: "proj_a", Version: 1, ProfileIDs: []string{u1.ProfileID, "prof_missing", gone.ProfileID}},
		{ProjectID: "proj_a", Version: 2, ProfileIDs: []string{u1.ProfileID}},
		{ProjectID: "proj_b", Version: 3, ProfileIDs: []string{u1.ProfileID}},    // u1's id is not proj_b's
		{ProjectID: "proj_a", Version: 4, ProfileIDs: []string{other.ProfileID}}, // nor proj_b's proj_a's
	}
	snaps, err := postgres.NewSnapshotReader(b.pool).Snapshots(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]identity.Snapshot{}
	for _, s := range snaps {
		if _, dup := byID[s.ProjectID+"/"+s.ID]; dup {
			t.Errorf("snapshot of %s/%s read twice", s.ProjectID, s.ID)
		}
		byID[s.ProjectID+"/"+s.ID] = s
	}
	if len(byID) != 2 {
		t.Fatalf("snapshots %+v; want u1 and the deleted u2 of proj_a only", snaps)
	}
	if s := byID["proj_a/"+u1.ProfileID]; s.ExternalID != "u1" || s.Traits["plan"] != "enterprise" || s.Deleted || s.Version <= 1 || s.UpdatedAt.IsZero() {
		t.Errorf("u1 = %+v; want external id u1, the override (plan enterprise), live, a current version", s)
	}
	if s := byID["proj_a/"+gone.ProfileID]; !s.Deleted {
		t.Errorf("u2 = %+v; want deleted", s)
	}
	for _, s := range snaps {
		if s.ID == other.ProfileID {
			t.Errorf("proj_b's profile read for a change of proj_a: %+v", s)
		}
	}
}
