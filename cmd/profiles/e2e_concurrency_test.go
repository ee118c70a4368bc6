package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// TestConcurrentIdentityAcrossProcesses: 32 clients send thousands of Identify and Alias calls
// over a few hundred overlapping ids to two `profiles serve` processes (and a `profiles
// worker`). Afterwards Postgres holds exactly the profiles a union-find over the calls predicts,
// every trait set is there, and ClickHouse's mapping agrees with Postgres for every id.
func TestConcurrentIdentityAcrossProcesses(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	p := createProject(t, env, "concurrency")
	bin := buildBinary(t)
	servers := []string{startProcess(t, bin, env, "serve"), startProcess(t, bin, env, "serve")}
	startProcess(t, bin, env, "worker")

	const users, anonPerUser, clients, callsPerClient = 120, 3, 32, 100
	hc := httpClient(t)
	sdks := make([]profilesv1connect.ProfilesSDKServiceClient, len(servers))
	for i, base := range servers {
		sdks[i] = profilesv1connect.NewProfilesSDKServiceClient(hc, base)
	}
	uf := newUnionFind()
	wantTraits := map[string]map[string]any{} // user -> keys that must be on its group's profile
	var mu sync.Mutex
	var wg sync.WaitGroup
	failures := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			ctx := context.Background()
			for n := range callsPerClient {
				u := rng.IntN(users)
				user := fmt.Sprintf("user-%d", u)
				anon := fmt.Sprintf("anon-%d-%d", u, rng.IntN(anonPerUser))
				sdk := sdks[rng.IntN(len(sdks))]
				var a, b string
				var err error
				switch k := rng.IntN(10); {
				case k < 5: // identify with a trait key only this call writes
					key := fmt.Sprintf("c%d_%d", c, n)
					a, b = user, anon
					_, err = sdk.Identify(ctx, bearer(&profilesv1.IdentifyRequest{ExternalId: user, AnonymousId: anon,
						Traits: traits(t, map[string]any{key: float64(n)})}, p.SDKKey))
					if err == nil {
						mu.Lock()
						if wantTraits[user] == nil {
							wantTraits[user] = map[string]any{}
						}
						wantTraits[user][key] = float64(n)
						mu.Unlock()
					}
				case k < 8:
					a, b = user, anon
					_, err = sdk.Alias(ctx, bearer(&profilesv1.AliasRequest{PreviousId: anon, ExternalId: user}, p.SDKKey))
				default: // two users turn out to be one account
					a, b = user, fmt.Sprintf("user-%d", (u+1+rng.IntN(2))%users)
					_, err = sdk.Alias(ctx, bearer(&profilesv1.AliasRequest{PreviousId: b, ExternalId: a, AllowIdentifiedMerge: true}, p.SDKKey))
				}
				if err != nil {
					failures <- fmt.Errorf("client %d call %d (%s, %s): %w", c, n, a, b, err)
					return
				}
				mu.Lock()
				uf.union(a, b)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Fatal(err)
	}

	ctx := context.Background()
	pool, err := postgres.Open(ctx, env["PROFILES_DATABASE_URL"], 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	owner := map[string]string{}
	rows, _ := pool.Query(ctx, `SELECT distinct_id, profile_id FROM distinct_ids WHERE project_id = $1`, p.ProjectID)
	var d, prof string
	if _, err := pgx.ForEachRow(rows, []any{&d, &prof}, func() error { owner[d] = prof; return nil }); err != nil {
		t.Fatal(err)
	}
	groupProfile := map[string]string{}
	for id := range uf.parent {
		got, ok := owner[id]
		if !ok {
			t.Fatalf("%s has no profile", id)
		}
		root := uf.find(id)
		if want, ok := groupProfile[root]; ok && want != got {
			t.Fatalf("one connected group of ids points at two profiles (%s, %s)", want, got)
		}
		groupProfile[root] = got
	}
	var live int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE project_id = $1 AND merged_into IS NULL`, p.ProjectID).Scan(&live)
	if live != len(groupProfile) {
		t.Errorf("%d live profiles, want %d: one per connected group", live, len(groupProfile))
	}
	for user, keys := range wantTraits {
		var got map[string]any
		if err := pool.QueryRow(ctx, `SELECT traits FROM profiles WHERE project_id = $1 AND id = $2`, p.ProjectID, owner[user]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		for k, v := range keys {
			if got[k] != v {
				t.Errorf("trait %s of %s = %v, want %v (a set trait was lost)", k, user, got[k], v)
			}
		}
	}

	ch, err := clickhouse.Open(ctx, env["PROFILES_CLICKHOUSE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ids := make([]string, 0, len(owner))
	for id := range owner {
		ids = append(ids, id)
	}
	mismatch := "not checked yet"
	for deadline := time.Now().Add(30 * time.Second); mismatch != ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse's mapping still disagrees with Postgres after 30s: %s", mismatch)
		}
		got, err := clickhouse.LookupMappings(ctx, ch, p.ProjectID, ids)
		if err != nil {
			t.Fatal(err)
		}
		mismatch = ""
		for id, want := range owner {
			if got[id].ProfileID != want {
				mismatch = fmt.Sprintf("%s: clickhouse %q, postgres %q", id, got[id].ProfileID, want)
				break
			}
		}
	}
}

// buildBinary builds cmd/profiles once for this test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "profiles")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs `profiles cmd` as its own process on a free port and waits until it is
// ready; at cleanup it sends SIGTERM and expects exit 0. It returns the base URL.
func startProcess(t *testing.T, bin string, env map[string]string, cmd string) string {
	t.Helper()
	addr := freeAddr(t)
	proc := exec.Command(bin, cmd)
	proc.Env = os.Environ()
	for k, v := range env {
		proc.Env = append(proc.Env, k+"="+v)
	}
	key := "PROFILES_HTTP_ADDR="
	if cmd == "worker" {
		key = "PROFILES_WORKER_HTTP_ADDR="
	}
	proc.Env = append(proc.Env, key+addr, "PROFILES_LOG_LEVEL=warn", "PROFILES_WORKERS=50")
	logs := &syncBuffer{}
	proc.Stdout, proc.Stderr = logs, logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("profiles %s exited with %v after SIGTERM; logs:\n%s", cmd, err, logs)
			}
		case <-time.After(60 * time.Second):
			_ = proc.Process.Kill()
			t.Errorf("profiles %s did not stop within 60s", cmd)
		}
	})
	base := "http://" + addr
	waitFor(t, "profiles "+cmd+" to be ready", 30*time.Second, func() bool {
		resp, err := httpClient(t).Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type unionFind struct{ parent map[string]string }

func newUnionFind() *unionFind { return &unionFind{parent: map[string]string{}} }

func (u *unionFind) find(x string) string {
	if _, ok := u.parent[x]; !ok {
		u.parent[x] = x
	}
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b string) { u.parent[u.find(a)] = u.find(b) }
