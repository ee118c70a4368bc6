package auth_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/auth"
)

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := auth.FromContext(ctx); ok {
		t.Fatal("a bare context has a principal")
	}
	if _, ok := auth.FromContext(auth.NewContext(ctx, auth.Principal{Via: auth.ViaJWT})); ok {
		t.Error("a principal without a project counts as present")
	}
	want := auth.Principal{ProjectID: "proj_a", Via: auth.ViaSecretKey, KeyID: "key_a"}
	got, ok := auth.FromContext(auth.NewContext(ctx, want))
	if !ok {
		t.Fatal("FromContext lost the principal")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if p := auth.MustProject(auth.NewContext(ctx, want)); p != "proj_a" {
		t.Errorf("MustProject = %q, want proj_a", p)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustProject without a principal did not panic")
		}
	}()
	auth.MustProject(ctx)
}
