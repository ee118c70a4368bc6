package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/profiles"
)

// TestListStrategiesAgree: whichever way List reads a page (collecting every match, collecting
// a few, walking the newest profiles, or falling back from a walk that met too few matches), it
// answers the same page as collecting everything; a total it leaves to Count (-1) comes only
// from a walk, and Count gives the exact one.
func TestListStrategiesAgree(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	const project = "proj_list"
	// 60 profiles, oldest first: among the first 40 every other one is on plan pro; the newest
	// 20 have no plan, so a walk from the newest meets no match for a while.
	identifyEach(t, b, project, 60, func(i int) identity.Traits {
		traits := identity.Traits{"name": fmt.Sprintf("user %02d", i), "age": float64(i)}
		if i < 40 && i%2 == 0 {
			traits["plan"] = "pro"
		}
		return traits
	})
	pro := []profiles.Filter{{Key: "plan", Op: profiles.OpEq, Value: "pro"}}
	old := []profiles.Filter{{Key: "age", Op: profiles.OpLt, Value: float64(40)}}
	queries := map[string]profiles.Query{
		"every profile":           {Limit: 7},
		"every profile, offset":   {Limit: 7, Offset: 50},
		"plan pro":                {Filters: pro, Limit: 5},
		"plan pro, offset":        {Filters: pro, Limit: 5, Offset: 12},
		"plan pro, past the end":  {Filters: pro, Limit: 5, Offset: 40},
		"young: dense among new":  {Filters: []profiles.Filter{{Key: "age", Op: profiles.OpGte, Value: float64(30)}}, Limit: 5},
		"old: sparse among new":   {Filters: old, Limit: 5},
		"text matches all":        {Text: "user", Limit: 5},
		"text and filter":         {Text: "user 1", Filters: pro, Limit: 3},
		"few, a short page":       {Filters: []profiles.Filter{{Key: "age", Op: profiles.OpGte, Value: float64(48)}}, Limit: 15},
		"nothing matches":         {Filters: []profiles.Filter{{Key: "plan", Op: profiles.OpEq, Value: "free"}}, Limit: 5},
		"plan pro, a large count": {Filters: pro, Limit: 5, Matches: 1_000_000},
	}
	all := postgres.NewProfileReader(b.pool).WithListStrategy(1<<30, 1, 0)
	readers := map[string]*postgres.ProfileReader{
		"default":           postgres.NewProfileReader(b.pool),
		"few, long walks":   all.WithListStrategy(3, 50, 1<<20),
		"few, short walks":  all.WithListStrategy(3, 2, 1<<20),
		"few, walks barred": all.WithListStrategy(3, 2, 0),
	}
	walked := map[string]bool{}
	for qname, q := range queries {
		_, wantTotal, err := all.List(ctx, project, q)
		narrowed := q.Text != "" || len(q.Filters) > 0
		if err != nil || narrowed && wantTotal < 0 {
			t.Fatalf("%s: reference List counted %d, %v; want an exact count", qname, wantTotal, err)
		}
		exact, err := all.Count(ctx, project, q)
		if err != nil || narrowed && exact != wantTotal {
			t.Fatalf("%s: Count = %d, %v; the reference page counted %d", qname, exact, err, wantTotal)
		}
		// Every page in turn, by keyset, must agree too.
		for after := ""; ; {
			q := q
			q.After = after
			want, _, _ := all.List(ctx, project, q)
			for rname, r := range readers {
				got, total, err := r.List(ctx, project, q)
				if err != nil {
					t.Fatalf("%s / %s: %v", rname, qname, err)
				}
				if !slices.Equal(ids(got), ids(want)) {
					t.Errorf("%s / %s after %q: page %v, want %v", rname, qname, after, ids(got), ids(want))
				}
				switch {
				case total == -1 && narrowed && len(got) < q.Limit:
					t.Errorf("%s / %s after %q: a short page without its count", rname, qname, after)
				case total == -1:
					if after == "" { // first pages only: later ones start below the profiles without a plan
						walked[rname+"/"+qname] = true
					}
				case total != exact:
					t.Errorf("%s / %s after %q: total %d, want %d", rname, qname, after, total, exact)
				}
			}
			if len(want) < q.Limit || q.Offset > 0 {
				break
			}
			after = want[len(want)-1].ID
		}
	}
	for _, w := range []string{"few, long walks/plan pro", "few, long walks/young: dense among new", "default/plan pro, a large count"} {
		if !walked[w] {
			t.Errorf("%s: the page did not come from a walk; this test no longer reaches it", w)
		}
	}
	for w := range walked {
		if w == "few, short walks/old: sparse among new" || w == "few, walks barred/plan pro" {
			t.Errorf("%s: a walk answered where it should have given way to collecting", w)
		}
	}
}

// identifyEach makes n identified profiles u00, u01, ..., oldest first, with the traits of traitsOf.
func identifyEach(t *testing.T, b identityBundle, project string, n int, traitsOf func(i int) identity.Traits) {
	t.Helper()
	for i := range n {
		if _, err := b.svc.Identify(context.Background(), project, identity.IdentifyRequest{ExternalID: fmt.Sprintf("u%02d", i),
			Traits: identity.TraitOps{Set: traitsOf(i)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // ids order by their millisecond, then at random
	}
}

func ids(recs []profiles.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ExternalID
	}
	return out
}

// TestListSharesCollectingEveryMatch: identical Lists that fall back to collecting every match
// at the same time share one read (one query waits while the table is locked, not nine), the
// read goes on when the caller that started it gives up and ends when every caller has, and a
// List that comes once the read is older than it may join starts its own.
func TestListSharesCollectingEveryMatch(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	const project = "proj_shared"
	identifyEach(t, b, project, 12, func(i int) identity.Traits {
		if i < 6 {
			return identity.Traits{"n": float64(i), "plan": "pro"}
		}
		return identity.Traits{"n": float64(i)}
	})
	r := postgres.NewProfileReader(b.pool)
	q := profiles.Query{Filters: []profiles.Filter{{Key: "plan", Op: profiles.OpEq, Value: "pro"}}, Limit: 4}
	want, wantN, err := r.CollectAll(ctx, project, q)
	if err != nil || len(want) != 4 || wantN != 6 {
		t.Fatalf("CollectAll = %d profiles, total %d, %v; want 4 of 6", len(want), wantN, err)
	}
	type answer struct {
		recs []profiles.Record
		n    int
		err  error
	}
	list := func(ctx context.Context) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			recs, n, err := r.CollectAll(ctx, project, q)
			ch <- answer{recs, n, err}
		}()
		return ch
	}
	// Outside the locking transaction, whose view of pg_stat_activity stays as first read.
	waiting := func() int {
		var n int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH matches AS MATERIALIZED%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(want int, what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); waiting() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d List queries wait on the locked table; want %d (%s)", waiting(), want, what)
			}
		}
	}
	lockTable := func() pgx.Tx {
		tx, err := b.pool.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, `LOCK TABLE profiles IN ACCESS EXCLUSIVE MODE`)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(ctx) }) // before the pool closes, should the test stop early
		return tx
	}

	lock := lockTable()
	starter, quit := context.WithCancel(ctx)
	gaveUp := list(starter)
	waitFor(1, "the first List's read")
	const callers = 8
	answers := make([]<-chan answer, callers)
	for i := range answers {
		answers[i] = list(ctx)
	}
	time.Sleep(200 * time.Millisecond) // every caller has long joined
	waitFor(1, "identical Lists share one read")
	quit()
	if a := <-gaveUp; !errors.Is(a.err, context.Canceled) {
		t.Errorf("the List that gave up got %v; want context.Canceled", a.err)
	}
	time.Sleep(100 * time.Millisecond)
	waitFor(1, "the read goes on for those still waiting")
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range answers {
		a := <-ch
		if a.err != nil || !slices.Equal(ids(a.recs), ids(want)) || a.n != wantN {
			t.Errorf("a shared List answered %v, total %d, %v; want %v, total %d", ids(a.recs), a.n, a.err, ids(want), wantN)
		}
	}

	lockTable()
	first, leave := context.WithCancel(ctx)
	left := list(first)
	waitFor(1, "a read")
	time.Sleep(1100 * time.Millisecond) // past the join window
	late, leaveToo := context.WithCancel(ctx)
	leftToo := list(late)
	waitFor(2, "a List past the join window reads on its own")
	leave()
	leaveToo()
	<-left
	<-leftToo
	waitFor(0, "reads that every caller left are cancelled")
}

// TestPlannerKnowsAnEmailIsRare: the planner estimates that one email address, or one external
// id, matches about one live profile (0009's statistics), not the 0.5% it guesses without them,
// which made List by email scan the table past two million profiles.
func TestPlannerKnowsAnEmailIsRare(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `INSERT INTO profiles (project_id, id, external_id, version, effective)
		SELECT 'p', 'prof_' || lpad(i::text, 8, '0'), 'user-' || i, 1, jsonb_build_object('email', 'u' || i || '@example.com')
		FROM generate_series(1, 4000) i`)
	if err == nil {
		_, err = b.pool.Exec(ctx, `ANALYZE profiles`)
	}
	if err != nil {
		t.Fatal(err)
	}
	// List's own condition for a query that is an email address: it or the external id.
	cond, args := postgres.CompileQuery("u7@example.com", 1)
	var plan []map[string]map[string]any
	if err := b.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT id FROM profiles WHERE project_id = 'p' AND `+cond, args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if rows := plan[0]["Plan"]["Plan Rows"].(float64); rows > 3 {
		t.Errorf("%s: the planner expects %v rows of 4,000; want about 2 (one address, one id)", cond, rows)
	}
}
