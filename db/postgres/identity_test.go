package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
)

type identityBundle struct {
	pool *pgxpool.Pool
	svc  *identity.Service
}

func setupIdentity(t *testing.T) identityBundle {
	t.Helper()
	pool := pgtest.New(t)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewIdentityStore(pool, jobs.Publisher{Client: client})
	return identityBundle{pool: pool, svc: identity.NewService(store)}
}

func TestIdentityStoreWritesProfileIDsAndJobTogether(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	res, err := b.svc.Identify(ctx, "proj_a", identity.IdentifyRequest{
		ExternalID: "u1", AnonymousID: "a1", Traits: identity.TraitOps{Set: identity.Traits{"plan": "pro"}},
	})
	if err != nil || res.Outcome != identity.OutcomeCreated {
		t.Fatalf("Identify = %+v, %v; want created", res, err)
	}
	var owners []string
	rows, _ := b.pool.Query(ctx, `SELECT profile_id FROM distinct_ids WHERE project_id = 'proj_a' ORDER BY distinct_id`)
	owners, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(owners) != 2 || owners[0] != res.ProfileID || owners[1] != res.ProfileID {
		t.Fatalf("distinct ids point at %v (%v), want both at %s", owners, err, res.ProfileID)
	}
	if jobsN := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'identity_projection_v2'`); jobsN != 1 {
		t.Fatalf("projection jobs = %d, want 1 per committed change", jobsN)
	}
	// The same request again changes nothing: no new job.
	if _, err := b.svc.Identify(ctx, "proj_a", identity.IdentifyRequest{ExternalID: "u1", AnonymousID: "a1",
		Traits: identity.TraitOps{Set: identity.Traits{"plan": "pro"}}}); err != nil {
		t.Fatal(err)
	}
	if jobsN := b.count(t, `SELECT count(*) FROM river_job`); jobsN != 1 {
		t.Errorf("a no-op identify enqueued a job: %d jobs", jobsN)
	}
}

func TestIdentityStoreMessageIDReplays(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	req := identity.IdentifyRequest{ExternalID: "u1", MessageID: "m-1", Traits: identity.TraitOps{Set: identity.Traits{"n": 1.0}}}
	first, err := b.svc.Identify(ctx, "p", req)
	if err != nil {
		t.Fatal(err)
	}
	req.Traits.Set["n"] = 2.0 // a retry must not apply anything, even if the body differs
	second, err := b.svc.Identify(ctx, "p", req)
	if err != nil || !second.Replayed || second.ProfileID != first.ProfileID || second.Outcome != first.Outcome {
		t.Fatalf("retry = %+v, %v; want replay of %+v", second, err, first)
	}
	var n float64
	_ = b.pool.QueryRow(ctx, `SELECT (traits->>'n')::float8 FROM profiles WHERE id = $1`, first.ProfileID).Scan(&n)
	if n != 1 {
		t.Errorf("trait n = %v after a replayed retry, want 1", n)
	}
}

// TestIdentityStoreConcurrentMergesConverge runs overlapping Identify and Alias calls from many
// goroutines and checks the graph against a union-find of the calls.
func TestIdentityStoreConcurrentMergesConverge(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	const users, anonPerUser, clients, callsPerClient = 40, 4, 32, 60
	uf := newUnionFind()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for range callsPerClient {
				u := rng.IntN(users)
				user := fmt.Sprintf("user-%d", u)
				var err error
				var a, bID string
				switch rng.IntN(3) {
				case 0:
					a, bID = user, fmt.Sprintf("anon-%d-%d", u, rng.IntN(anonPerUser))
					_, err = b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: a, AnonymousID: bID,
						Traits: identity.TraitOps{Set: identity.Traits{fmt.Sprintf("k%d", c): float64(u)}}})
				case 1:
					a, bID = user, fmt.Sprintf("anon-%d-%d", u, rng.IntN(anonPerUser))
					_, err = b.svc.Alias(ctx, "p", identity.AliasRequest{PreviousID: bID, ExternalID: a})
				default:
					a, bID = user, fmt.Sprintf("user-%d", (u+1+rng.IntN(3))%users)
					_, err = b.svc.Alias(ctx, "p", identity.AliasRequest{PreviousID: bID, ExternalID: a, AllowIdentifiedMerge: true})
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				uf.union(a, bID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a call failed under concurrency: %v", err)
	}
	owner := b.owners(t, "p")
	groupProfile := map[string]string{}
	for id := range uf.parent {
		got, ok := owner[id]
		if !ok {
			t.Fatalf("distinct id %s has no profile", id)
		}
		root := uf.find(id)
		if want, ok := groupProfile[root]; ok && want != got {
			t.Fatalf("ids of one group point at two profiles: %s and %s", want, got)
		}
		groupProfile[root] = got
	}
	if live := b.count(t, `SELECT count(*) FROM profiles WHERE project_id = 'p' AND merged_into IS NULL`); live != len(groupProfile) {
		t.Errorf("%d live profiles, want %d (one per connected group)", live, len(groupProfile))
	}
	if merged := b.count(t, `SELECT count(*) FROM profiles p WHERE project_id = 'p' AND merged_into IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM profiles w WHERE w.project_id = p.project_id AND w.id = p.merged_into)`); merged != 0 {
		t.Errorf("%d merged profiles point at missing winners", merged)
	}
}

func TestIdentityStoreRefusedMergeWritesNothing(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	for _, u := range []string{"u1", "u2"} {
		if _, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: u}); err != nil {
			t.Fatal(err)
		}
	}
	before := b.count(t, `SELECT count(*) FROM river_job`)
	_, err := b.svc.Alias(ctx, "p", identity.AliasRequest{PreviousID: "u2", ExternalID: "u1"})
	var refused *identity.MergeRefusedError
	if !errors.As(err, &refused) || refused.OtherProfileID == "" {
		t.Fatalf("Alias of two identified = %v, want MergeRefusedError naming the other profile", err)
	}
	if after := b.count(t, `SELECT count(*) FROM river_job`); after != before {
		t.Errorf("a refused merge enqueued %d jobs", after-before)
	}
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

// TestObserveAll: one write gives each unknown id its own anonymous profile, once, leaves known
// ids alone (a deleted profile's too), skips the ids identity refuses, and converges when
// callers race on the same ids alongside Identify.
func TestObserveAll(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	user, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: "u1", AnonymousID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: "u2", AnonymousID: "a2"})
	if err == nil {
		_, err = b.svc.Delete(ctx, "p", gone.ProfileID)
	}
	if err != nil {
		t.Fatal(err)
	}
	if refused, err := b.svc.ObserveAll(ctx, "p", []string{"a1", "n1", "a2", "n2", "n1"}); err != nil || refused != nil {
		t.Fatalf("ObserveAll = %v, %v; want nothing refused", refused, err)
	}
	owners := b.owners(t, "p")
	if owners["a1"] != user.ProfileID || owners["n1"] == "" || owners["n2"] == "" || owners["n1"] == owners["n2"] || owners["n1"] == user.ProfileID {
		t.Fatalf("owners %v; want a1 left on %s and n1, n2 on a new profile each", owners, user.ProfileID)
	}
	if owners["a2"] != gone.ProfileID {
		t.Errorf("a2 on %s; want it left on its deleted profile %s (events do not revive a profile)", owners["a2"], gone.ProfileID)
	}
	jobsBefore := b.count(t, `SELECT count(*) FROM river_job`)
	if _, err := b.svc.ObserveAll(ctx, "p", []string{"n2", "a1", "n1"}); err != nil {
		t.Fatalf("ObserveAll of known ids: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM profiles WHERE project_id = 'p'`); n != 4 {
		t.Errorf("%d profiles after observing known ids; want 4", n)
	}
	if n := b.count(t, `SELECT count(*) FROM river_job`); n != jobsBefore {
		t.Errorf("%d projection jobs after observing known ids; want %d (nothing changed)", n, jobsBefore)
	}

	refused, err := b.svc.ObserveAll(ctx, "p", []string{"n3", "undefined", "null"})
	if err != nil || !slices.Equal(refused, []string{"undefined", "null"}) {
		t.Errorf("ObserveAll with placeholder ids = %v, %v; want them refused", refused, err)
	}
	if owners := b.owners(t, "p"); owners["n3"] == "" || owners["undefined"] != "" {
		t.Errorf("owners %v; want n3 on a profile and no placeholder on any", owners)
	}
	if _, err := b.svc.ObserveAll(ctx, "p", make([]string, identity.MaxObserveIDs+1)); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("ObserveAll of %d ids = %v; want ErrInvalid", identity.MaxObserveIDs+1, err)
	}

	// 4 callers observe the same 1,500 visitors in chunks (several chunks queued at once pass
	// one group's bound on ids) while 20 of the visitors sign up.
	visitors := make([]string, 1500)
	for i := range visitors {
		visitors[i] = fmt.Sprintf("v%d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for c := range 4 {
		wg.Go(func() {
			for i := 0; i < len(visitors); i += identity.MaxObserveIDs {
				chunk := visitors[i:min(i+identity.MaxObserveIDs, len(visitors))]
				if _, err := b.svc.ObserveAll(ctx, "p", chunk); err != nil {
					errs <- err
				}
			}
			for i := c; i < 20; i += 4 {
				if _, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: fmt.Sprintf("user-%d", i), AnonymousID: visitors[i*70]}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a call failed under concurrency: %v", err)
	}
	owners = b.owners(t, "p")
	seen := map[string]string{}
	for _, v := range visitors {
		prof, ok := owners[v]
		if !ok {
			t.Fatalf("visitor %s has no profile", v)
		}
		if other, dup := seen[prof]; dup {
			t.Fatalf("visitors %s and %s share profile %s; want one each", other, v, prof)
		}
		seen[prof] = v
	}
	for i := range 20 {
		if u := owners[fmt.Sprintf("user-%d", i)]; u != owners[visitors[i*70]] {
			t.Errorf("user-%d on %s, its visitor on %s; want the visitor's profile identified", i, u, owners[visitors[i*70]])
		}
	}
	if n := b.count(t, `SELECT count(*) FROM profiles WHERE project_id = 'p'`); n != 5+len(visitors) {
		t.Errorf("%d profiles; want %d (one per visitor, none made twice)", n, 5+len(visitors))
	}
}

func (b identityBundle) owners(t *testing.T, project string) map[string]string {
	t.Helper()
	rows, _ := b.pool.Query(context.Background(), `SELECT distinct_id, profile_id FROM distinct_ids WHERE project_id = $1`, project)
	owner := map[string]string{}
	var d, p string
	if _, err := pgx.ForEachRow(rows, []any{&d, &p}, func() error { owner[d] = p; return nil }); err != nil {
		t.Fatal(err)
	}
	return owner
}

func (b identityBundle) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// nopPublisher publishes nothing: the test below is about the committer's slots alone.
type nopPublisher struct{}

func (nopPublisher) PublishTx(context.Context, pgx.Tx, []identity.Change) error { return nil }

// TestIdentityStoreKeepsNoSlotAfterItsWrites: once every write of a round has answered, no
// leader slot is still counted as held. A write that led by itself could be handed a second
// slot it never used, and the store then ran on one leader until restart.
func TestIdentityStoreKeepsNoSlotAfterItsWrites(t *testing.T) {
	t.Parallel()
	store := postgres.NewIdentityStore(pgtest.New(t), nopPublisher{})
	decide := func(*identity.State) (*identity.Plan, error) {
		return &identity.Plan{Result: identity.Result{Outcome: identity.OutcomeUpdated}}, nil
	}
	for rep := range 15 {
		var wg sync.WaitGroup
		stop := time.Now().Add(200 * time.Millisecond)
		for i := range 3 {
			wg.Go(func() {
				for n := 0; time.Now().Before(stop); n++ {
					req := identity.UpdateRequest{ProjectID: "p", DistinctIDs: []string{"x"}, Method: "observe", Background: (i+n)%3 == 0}
					if _, err := store.Update(context.Background(), req, decide); err != nil {
						t.Errorf("rep %d: %v", rep, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if leaders, queued := store.Slots(); leaders != 0 || queued != 0 {
			t.Fatalf("after rep %d: %d leader slots held and %d writes queued, with no write in flight", rep, leaders, queued)
		}
	}
}
