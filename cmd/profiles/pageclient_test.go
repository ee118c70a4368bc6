package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPageTypeScriptClient runs the API page's TypeScript snippet, with the client generated
// from our protos (web/gen), against a real serve: Connect JSON, then binary.
func TestPageTypeScriptClient(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	p := createProject(t, env, "web")
	srv := startServe(t, env, hooks{})

	web, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(web, "node_modules", ".bin", "tsx"), "test/page-client.ts")
	cmd.Dir = web
	cmd.Env = append(cmd.Environ(), "PROFILES_URL="+srv.base, "PROFILES_SDK_KEY="+p.SDKKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the page's client failed (run scripts/setup.sh tools to install web/node_modules): %v\n%s", err, out)
	}
	for _, want := range []string{`"format":"json","method":"identify"`, `"format":"binary","method":"alias"`, `"profileId":"prof_`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("page client output lacks %s:\n%s", want, out)
		}
	}
}
