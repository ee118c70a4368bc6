package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/poluruprvn/profiles/db/clickhouse"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// The workload of TestIdentityConcurrencyTwoServers. Every anonymous id belongs to one user, and
// users merge only along planned pairs, so the final grouping is the same in every order of the
// calls: a union-find over the successful calls predicts it.
const (
	concUsers       = 150
	concAnonPerUser = 3
	concClients     = 32
	concCalls       = 100 // per client: 3,200 in all
)

// concPartners are the planned merges, both ways: u%3 == 0 merges with u+1, and u%6 == 0
// also chains u+1 with u+2, so groups of three, two and one user arise.
var concPartners = func() map[int][]int {
	m := map[int][]int{}
	pair := func(a, b int) {
		if b < concUsers {
			m[a], m[b] = append(m[a], b), append(m[b], a)
		}
	}
	for u := 0; u < concUsers; u += 3 {
		pair(u, u+1)
		if u%6 == 0 {
			pair(u+1, u+2)
		}
	}
	return m
}()

// TestIdentityConcurrencyTwoServers: 32 clients send 3,200 Identify and Alias calls over a few
// hundred overlapping ids to two `profiles serve` processes (plus a `profiles worker`) on the
// same databases. No call fails; afterwards Postgres holds exactly one live profile per group
// the union-find predicts, every id of a group points at it, every trait set is there with its
// last written value, and ClickHouse's mapping and profiles agree with Postgres.
func TestIdentityConcurrencyTwoServers(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	// Three processes share one Postgres server with other tests: keep each pool small (writes
	// are group-committed, so a few connections carry 32 clients).
	env["PROFILES_PG_MAX_CONNS"] = "5"
	proj := createProject(t, env, "concurrency")
	bin := buildProfiles(t)
	bases := []string{spawnProfiles(t, bin, env, "serve"), spawnProfiles(t, bin, env, "serve")}
	spawnProfiles(t, bin, env, "worker")

	hc := httpClient(t)
	clients := make([]profilesv1connect.ProfilesSDKServiceClient, len(bases))
	for i, base := range bases {
		clients[i] = profilesv1connect.NewProfilesSDKServiceClient(hc, base, withBearer(proj.SDKKey))
	}
	user := func(u int) string { return fmt.Sprintf("user-%03d", u) }

	var (
		mu        sync.Mutex
		groups    = newIDUnion()
		wantKeys  = map[string]map[string]float64{} // user -> trait keys set on its group's profile
		seqLast   = map[string]float64{}            // user -> last seq_<user> value written
		failures  []string
		wg        sync.WaitGroup
		ctx       = context.Background()
		startedAt = time.Now()
	)
	for c := range concClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(startedAt.UnixNano())))
			for n := range concCalls {
				u := rng.IntN(concUsers)
				me, anon := user(u), fmt.Sprintf("anon-%03d-%d", u, rng.IntN(concAnonPerUser))
				sdk := clients[rng.IntN(len(clients))]
				partners := concPartners[u]
				var (
					a, b string
					keys map[string]float64
					err  error
				)
				switch k := rng.IntN(20); {
				case k < 4 && len(partners) > 0: // two accounts of one person, either direction
					other := user(partners[rng.IntN(len(partners))])
					a, b = me, other
					if rng.IntN(2) == 0 {
						a, b = b, a
					}
					_, err = sdk.Alias(ctx, connect.NewRequest(&profilesv1.AliasRequest{PreviousId: b, ExternalId: a, AllowIdentifiedMerge: true}))
				case k < 10:
					a, b = me, anon
					_, err = sdk.Alias(ctx, connect.NewRequest(&profilesv1.AliasRequest{PreviousId: anon, ExternalId: me}))
				default:
					a, b = me, anon
					keys = map[string]float64{fmt.Sprintf("k_%02d_%03d", c, n): float64(n)}
					if c == 0 { // the designated client: seq_<user> grows with every write it makes
						mu.Lock()
						keys["seq_"+me] = seqLast[me] + 1
						mu.Unlock()
					}
					tr := map[string]any{}
					for k, v := range keys {
						tr[k] = v
					}
					_, err = sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{ExternalId: me, AnonymousId: anon, Traits: st(t, tr)}))
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("client %d call %d (%s, %s): %v", c, n, a, b, err))
				} else {
					groups.union(a, b)
					if keys != nil {
						if wantKeys[me] == nil {
							wantKeys[me] = map[string]float64{}
						}
						for k, v := range keys {
							wantKeys[me][k] = v
							if strings.HasPrefix(k, "seq_") {
								seqLast[me] = v
							}
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d calls from %d clients over two servers in %s", concClients*concCalls, concClients, time.Since(startedAt).Round(time.Millisecond))
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed, want none; first: %s", len(failures), concClients*concCalls, strings.Join(failures[:min(5, len(failures))], "\n"))
	}

	// Postgres, read directly.
	pg, err := pgx.Connect(ctx, env["PROFILES_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	owner := map[string]string{}
	rows, _ := pg.Query(ctx, `SELECT distinct_id, profile_id FROM distinct_ids WHERE project_id = $1`, proj.ProjectID)
	var id, prof string
	if _, err := pgx.ForEachRow(rows, []any{&id, &prof}, func() error { owner[id] = prof; return nil }); err != nil {
		t.Fatal(err)
	}
	type pgProfile struct {
		traits     map[string]any
		mergedInto string
		externalID string
		version    int64
	}
	profiles := map[string]pgProfile{}
	var pp pgProfile
	rows, _ = pg.Query(ctx, `SELECT id, traits, coalesce(merged_into, ''), coalesce(external_id, ''), version FROM profiles WHERE project_id = $1 AND deleted_at IS NULL`, proj.ProjectID)
	if _, err := pgx.ForEachRow(rows, []any{&prof, &pp.traits, &pp.mergedInto, &pp.externalID, &pp.version}, func() error { profiles[prof] = pp; return nil }); err != nil {
		t.Fatal(err)
	}

	groupOf, rootOf := map[string]string{}, map[string]string{} // root -> profile, profile -> root
	for id := range groups.parent {
		got, ok := owner[id]
		if !ok {
			t.Errorf("%s has no profile in Postgres", id)
			continue
		}
		root := groups.find(id)
		if want, ok := groupOf[root]; ok && want != got {
			t.Errorf("%s points at %s, but its group points at %s: one group, two profiles", id, got, want)
		}
		if r, ok := rootOf[got]; ok && r != root {
			t.Errorf("profile %s holds ids of two groups (%s and %s)", got, r, root)
		}
		groupOf[root], rootOf[got] = got, root
	}
	if len(owner) != len(groups.parent) {
		t.Errorf("Postgres maps %d distinct ids, the calls used %d", len(owner), len(groups.parent))
	}
	live := 0
	for p, row := range profiles {
		if row.mergedInto != "" {
			continue
		}
		live++
		if _, ok := rootOf[p]; !ok {
			t.Errorf("live profile %s (%s) holds no id of any group", p, row.externalID)
		}
	}
	if live != len(groupOf) {
		t.Errorf("%d live profiles in Postgres, want %d: one per connected group", live, len(groupOf))
	}
	nkeys := 0
	for u, keys := range wantKeys {
		nkeys += len(keys)
		got := profiles[owner[u]].traits
		for k, v := range keys {
			if got[k] != v {
				t.Errorf("trait %s of %s's profile %s = %v, want %v (a set trait was lost or an older write won)", k, u, owner[u], got[k], v)
			}
		}
	}

	t.Logf("%d distinct ids in %d groups; %d profiles (%d merged away); %d trait values checked", len(owner), len(groupOf), len(profiles), len(profiles)-live, nkeys)

	// ClickHouse, polled until the projection has caught up.
	ch, err := clickhouse.Open(ctx, env["PROFILES_CLICKHOUSE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ids, profileIDs := make([]string, 0, len(owner)), make([]string, 0, len(profiles))
	for id := range owner {
		ids = append(ids, id)
	}
	for p := range profiles {
		profileIDs = append(profileIDs, p)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mismatch := ""
		mappings, err := clickhouse.LookupMappings(ctx, ch, proj.ProjectID, ids)
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range owner {
			if got := mappings[id].ProfileID; got != want {
				mismatch = fmt.Sprintf("mapping of %s: ClickHouse %q, Postgres %q", id, got, want)
				break
			}
		}
		if mismatch == "" {
			rows, err := clickhouse.LookupProfiles(ctx, ch, proj.ProjectID, profileIDs)
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range profiles {
				got := rows[p]
				if got.MergedInto != want.mergedInto || got.ExternalID != want.externalID || got.Version != uint64(want.version) {
					mismatch = fmt.Sprintf("profile %s: ClickHouse merged into %q, external id %q, version %d; Postgres %q, %q, %d",
						p, got.MergedInto, got.ExternalID, got.Version, want.mergedInto, want.externalID, want.version)
					break
				}
			}
		}
		if mismatch == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse still disagrees with Postgres after 20s: %s", mismatch)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildProfiles builds cmd/profiles from the module root into the test's temporary directory.
func buildProfiles(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("go env GOMOD: %q, %v", gomod, err)
	}
	bin := filepath.Join(t.TempDir(), "profiles")
	build := exec.Command("go", "build", "-o", bin, "./cmd/profiles")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/profiles: %v\n%s", err, out)
	}
	return bin
}

// spawnProfiles runs `profiles cmd` as a process on a free port of its own, waits for /readyz,
// and returns its base URL. At cleanup it sends SIGTERM and expects exit status 0.
func spawnProfiles(t *testing.T, bin string, env map[string]string, cmd string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	addrVar := "PROFILES_HTTP_ADDR"
	if cmd == "worker" {
		addrVar = "PROFILES_WORKER_HTTP_ADDR"
	}
	proc := exec.Command(bin, cmd)
	proc.Env = os.Environ()
	for k, v := range env {
		proc.Env = append(proc.Env, k+"="+v)
	}
	// The NATS bridge stays off: every process would create the shared default stream at
	// once, and this test is about the API's write path.
	proc.Env = append(proc.Env, addrVar+"="+addr, "PROFILES_LOG_LEVEL=warn", "PROFILES_NATS_URL=")
	logs := &syncBuffer{}
	proc.Stdout, proc.Stderr = logs, logs
	if err := proc.Start(); err != nil {
		t.Fatalf("start profiles %s: %v", cmd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("profiles %s after SIGTERM: %v, want exit status 0; logs:\n%s", cmd, err, logs)
			} else if t.Failed() {
				t.Logf("logs of profiles %s on %s:\n%s", cmd, addr, logs)
			}
		case <-time.After(60 * time.Second):
			_ = proc.Process.Kill()
			<-exited
			t.Errorf("profiles %s did not stop within 60s of SIGTERM; logs:\n%s", cmd, logs)
		}
	})
	base := "http://" + addr
	hc := httpClient(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("profiles %s exited (%v) before it was ready; logs:\n%s", cmd, err, logs)
		default:
		}
		if resp, err := hc.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("profiles %s not ready on %s after 30s; logs:\n%s", cmd, addr, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idUnion is a union-find over distinct ids.
type idUnion struct{ parent map[string]string }

func newIDUnion() *idUnion { return &idUnion{parent: map[string]string{}} }

func (u *idUnion) find(x string) string {
	if _, ok := u.parent[x]; !ok {
		u.parent[x] = x
	}
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *idUnion) union(a, b string) { u.parent[u.find(a)] = u.find(b) }
