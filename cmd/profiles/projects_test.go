package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/poluruprvn/profiles/db/pgtest"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// createProject runs `projects create NAME --json` and checks the output's shape.
func createProject(t *testing.T, env map[string]string, name string) newProjectJSON {
	t.Helper()
	r := mustRun(t, env, "projects", "create", name, "--json")
	var fields map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fields); err != nil {
		t.Fatalf("projects create --json printed %q: %v", r.stdout, err)
	}
	if len(fields) != 3 {
		t.Errorf("projects create --json has fields %v, want exactly projectId, sdkKey, secretKey", fields)
	}
	var p newProjectJSON
	_ = json.Unmarshal([]byte(r.stdout), &p)
	if !strings.HasPrefix(p.ProjectID, "proj_") || !strings.HasPrefix(p.SDKKey, "pk_") || !strings.HasPrefix(p.SecretKey, "sk_") {
		t.Errorf("projects create --json = %s, want proj_, pk_ and sk_ values", r.stdout)
	}
	return p
}

// authPassed reports whether an RPC got past authentication and the service policy: the
// handler answered (unimplemented until the domain handlers land, then anything else).
func authPassed(err error) bool {
	code := connect.CodeOf(err)
	return err == nil || (code != connect.CodeUnauthenticated && code != connect.CodePermissionDenied)
}

func bearer[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

// TestProjectKeysWork creates a project with the CLI and calls the API with its keys: the SDK
// key reaches the SDK service only, the secret key reaches ProfilesService, and a revoked key
// stops working.
func TestProjectKeysWork(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_KEY_CACHE_TTL"] = "50ms"
	p := createProject(t, env, "acme")
	srv := startServe(t, env, hooks{})
	ctx := context.Background()
	sdkClient := profilesv1connect.NewProfilesSDKServiceClient(httpClient(t), srv.base)
	profilesClient := profilesv1connect.NewProfilesServiceClient(httpClient(t), srv.base)

	if _, err := sdkClient.Identify(ctx, bearer(&profilesv1.IdentifyRequest{}, p.SDKKey)); !authPassed(err) {
		t.Errorf("Identify with the new SDK key: %v, want past auth", err)
	}
	if _, err := profilesClient.Get(ctx, bearer(&profilesv1.GetRequest{}, p.SecretKey)); !authPassed(err) {
		t.Errorf("ProfilesService.Get with the new secret key: %v, want past auth", err)
	}
	if _, err := profilesClient.Get(ctx, bearer(&profilesv1.GetRequest{}, p.SDKKey)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("ProfilesService.Get with the SDK key: %v, want permission_denied", err)
	}

	// A second SDK key from `keys create`, then revoked with `keys revoke`.
	r := mustRun(t, env, "keys", "create", "--project", p.ProjectID, "--kind", "sdk", "--name", "web", "--json")
	var k newKeyJSON
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || !strings.HasPrefix(k.Token, "pk_") || k.ProjectID != p.ProjectID {
		t.Fatalf("keys create --json = %q (%v), want a pk_ token of %s", r.stdout, err, p.ProjectID)
	}
	if _, err := sdkClient.Identify(ctx, bearer(&profilesv1.IdentifyRequest{}, k.Token)); !authPassed(err) {
		t.Errorf("Identify with a key from keys create: %v, want past auth", err)
	}
	mustRun(t, env, "keys", "revoke", "--project", p.ProjectID, k.KeyID)
	waitFor(t, "the revoked key to be refused", 10*time.Second, func() bool {
		_, err := sdkClient.Identify(ctx, bearer(&profilesv1.IdentifyRequest{}, k.Token))
		return connect.CodeOf(err) == connect.CodeUnauthenticated
	})
	if _, err := sdkClient.Identify(ctx, bearer(&profilesv1.IdentifyRequest{}, p.SDKKey)); !authPassed(err) {
		t.Errorf("the project's other SDK key after revoking one: %v, want past auth", err)
	}
}

func TestProjectsAndKeysCLI(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFILES_DATABASE_URL": pgtest.NewURL(t)}

	// demo on an empty database creates "demo" and prints its keys; again, it only says so.
	first := mustRun(t, env, "projects", "demo")
	if !strings.Contains(first.stdout, `"demo"`) || !strings.Contains(first.stdout, "pk_") || !strings.Contains(first.stdout, "sk_") {
		t.Errorf("first projects demo should create demo and print both keys:\n%s", first.stdout)
	}
	second := mustRun(t, env, "projects", "demo")
	if !strings.Contains(second.stdout, "exists") || strings.Contains(second.stdout, "pk_") || !strings.Contains(second.stdout, "profiles keys create --project proj_") {
		t.Errorf("second projects demo should say a project exists and how to make a key, without keys:\n%s", second.stdout)
	}

	text := mustRun(t, env, "projects", "create", "Acme Inc").stdout
	if !strings.Contains(text, "Acme Inc") || !strings.Contains(text, "shown only now") {
		t.Errorf("projects create (text) output:\n%s", text)
	}
	p := createProject(t, env, "json one")

	var projects []projectJSON
	if err := json.Unmarshal([]byte(mustRun(t, env, "projects", "list", "--json").stdout), &projects); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pr := range projects {
		names = append(names, pr.Name)
	}
	if strings.Join(names, ",") != "demo,Acme Inc,json one" {
		t.Errorf("projects list names = %v, want demo, Acme Inc, json one (oldest first)", names)
	}
	if table := mustRun(t, env, "projects", "list").stdout; !strings.HasPrefix(table, "ID") || !strings.Contains(table, p.ProjectID) {
		t.Errorf("projects list table:\n%s", table)
	}

	secret := mustRun(t, env, "keys", "create", "--project", p.ProjectID, "--kind", "secret").stdout
	if !strings.Contains(secret, "sk_") {
		t.Errorf("keys create --kind secret output:\n%s", secret)
	}
	var keys []keyJSON
	if err := json.Unmarshal([]byte(mustRun(t, env, "keys", "list", "--project", p.ProjectID, "--json").stdout), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("keys list: %d keys, want 3 (two from create, one from keys create)", len(keys))
	}
	mustRun(t, env, "keys", "revoke", "--project", p.ProjectID, keys[0].ID)
	listing := mustRun(t, env, "keys", "list", "--project", p.ProjectID).stdout
	if strings.Contains(listing, "pk_") || strings.Contains(listing, "sk_") {
		t.Errorf("keys list shows a token:\n%s", listing)
	}
	if strings.Count(listing, "\n") != 4 || strings.Count(listing, " -\n") != 2 {
		t.Errorf("keys list should show 3 keys, one revoked:\n%s", listing)
	}

	// Errors name the problem and exit 1 (2 for a bad command line).
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys", "create", "--project", p.ProjectID, "--kind", "admin"}, 2, "--kind"},
		{[]string{"keys", "list", "--project", "proj_doesnotexist00"}, 1, "project not found"},
		{[]string{"keys", "revoke", "--project", p.ProjectID, "key_doesnotexist000"}, 1, "not found"},
		{[]string{"projects", "create", " "}, 1, "name"},
	} {
		r := runCLI(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("profiles %s: exit %d, stderr %q; want %d mentioning %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestProjectsNeedsReachablePostgres(t *testing.T) {
	t.Parallel()
	r := runCLI(t, map[string]string{"PROFILES_DATABASE_URL": "postgres://nobody:secretpw@127.0.0.1:1/x?connect_timeout=2"}, "projects", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "PROFILES_DATABASE_URL") || strings.Contains(r.stderr, "secretpw") {
		t.Errorf("exit %d, stderr %q; want 1 naming PROFILES_DATABASE_URL without the password", r.code, r.stderr)
	}
}
