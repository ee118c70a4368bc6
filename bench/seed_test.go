package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/profiles"
)

func TestEventCountsAddUpWithAHeavyTail(t *testing.T) {
	t.Parallel()
	counts := eventCounts(7, 10_000, 123_457)
	var sum int
	for _, c := range counts {
		sum += int(c)
	}
	if sum != 123_457 {
		t.Fatalf("event counts add up to %d, want exactly 123457", sum)
	}
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	median, top := sorted[len(sorted)/2], sorted[len(sorted)-1]
	if median < 3 || median > 12 || top < 20*median {
		t.Errorf("median %d, heaviest %d: want a median near 7 and a heaviest user far above it", median, top)
	}
}

func TestDescribeIsAFunctionOfSeedAndIndex(t *testing.T) {
	t.Parallel()
	space := seedSpace{seed: 3, profiles: 20_000, now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
	kinds := map[profileKind]int{}
	var prev time.Time
	for i := range space.profiles {
		p := space.describe(i)
		again := space.describe(i)
		if !slices.Equal(p.distinctIDs, again.distinctIDs) || p.kind != again.kind || !p.createdAt.Equal(again.createdAt) {
			t.Fatalf("describe(%d) differs between calls: %+v, %+v", i, p, again)
		}
		if n := len(p.distinctIDs); n < 1 || n > 3 {
			t.Fatalf("profile %d has %d distinct ids, want 1 to 3", i, n)
		}
		identified := p.kind == kindIdentified || p.kind == kindDeleted
		if identified != (p.externalID != "") || (identified && p.distinctIDs[0] != p.externalID) {
			t.Fatalf("profile %d of kind %d: external id %q, ids %v", i, p.kind, p.externalID, p.distinctIDs)
		}
		if !p.createdAt.After(prev) {
			t.Fatalf("profile %d created at %s, not after the one before (%s): ids would not arrive in order", i, p.createdAt, prev)
		}
		prev = p.createdAt
		kinds[p.kind]++
	}
	for kind, want := range map[profileKind]float64{kindDeleted: 0.02, kindMerged: 0.05, kindAnonymous: 0.25, kindIdentified: 0.68} {
		if got := float64(kinds[kind]) / float64(space.profiles); got < want*0.8 || got > want*1.2 {
			t.Errorf("kind %d is %.3f of the profiles, want about %.2f", kind, got, want)
		}
	}
}

// TestSeedLoadsWhatTheReadersFind seeds a small project and reads it back through the
// service's own readers: the search text must agree with the List query, merged and
// deleted profiles must be hidden, and every table must hold what Seed says it loaded.
func TestSeedLoadsWhatTheReadersFind(t *testing.T) {
	t.Parallel()
	pool, ch := pgtest.New(t), chtest.New(t)
	ctx := context.Background()
	const project = "proj_seedtest"
	stats, err := Seed(ctx, pool, ch, SeedConfig{ProjectID: project, Profiles: 3000, Events: 20_000, Seed: 5})
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if stats.Identified+stats.Anonymous+stats.Merged+stats.Deleted != 3000 || stats.Merged == 0 || stats.Deleted == 0 {
		t.Fatalf("stats %+v: want 3000 profiles, some merged and some deleted", stats)
	}

	scalar := func(sql string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	if n := scalar(`SELECT count(*) FROM distinct_ids WHERE project_id = $1`, project); n != int64(stats.DistinctIDs) {
		t.Errorf("distinct_ids holds %d rows, want %d", n, stats.DistinctIDs)
	}
	if n := scalar(`SELECT count(*) FROM distinct_ids d JOIN profiles p ON p.project_id = d.project_id AND p.id = d.profile_id
		WHERE d.project_id = $1 AND p.merged_into IS NOT NULL`, project); n != 0 {
		t.Errorf("%d distinct ids point at merged-away profiles, want none", n)
	}
	if n := scalar(`SELECT count(*) FROM profiles l JOIN profiles w ON w.project_id = l.project_id AND w.id = l.merged_into
		WHERE l.project_id = $1 AND (w.merged_into IS NOT NULL OR w.deleted_at IS NOT NULL OR w.external_id IS NULL)`, project); n != 0 {
		t.Errorf("%d profiles are merged into a profile that is not live and identified, want none", n)
	}
	if n := scalar(`SELECT count(*) FROM profiles WHERE project_id = $1 AND version > (SELECT last_value FROM change_seq)`, project); n != 0 {
		t.Errorf("%d profiles have a version change_seq has not reached, want none", n)
	}

	r := &runner{cfg: Config{ProjectID: project}, deps: Deps{Pool: pool}}
	if err := r.loadSample(ctx); err != nil {
		t.Fatal(err)
	}
	reader := postgres.NewProfileReader(pool)
	for _, s := range r.sample[:20] {
		// Not the external id: "user-19" is a substring of "user-190" and a hundred more, so
		// one page need not hold it. The email is unique ("user19@" is in no other).
		for _, q := range []string{s.Name, s.Email} {
			recs, total, err := reader.List(ctx, project, profiles.Query{Text: q, Limit: 50})
			if err != nil || total < 1 || !slices.ContainsFunc(recs, func(rec profiles.Record) bool { return rec.ExternalID == s.ExternalID }) {
				t.Fatalf("List(%q) = %d profiles of %d, %v: want %s among them", q, len(recs), total, err, s.ExternalID)
			}
		}
	}
	total, err := reader.Count(ctx, project, profiles.Query{Limit: 50, Filters: []profiles.Filter{
		{Key: "plan", Op: profiles.OpEq, Value: "pro"}, {Key: "age", Op: profiles.OpGt, Value: 40.0},
	}})
	want := scalar(`SELECT count(*) FROM profiles WHERE project_id = $1 AND merged_into IS NULL AND deleted_at IS NULL
		AND effective->>'plan' = 'pro' AND (effective->>'age')::numeric > 40`, project)
	if err != nil || int64(total) != want || want == 0 {
		t.Errorf("Count(plan = pro AND age > 40) = %d, %v; want %d", total, err, want)
	}

	for table, want := range map[string]uint64{"events": 20_000, "distinct_id_map": uint64(stats.DistinctIDs), "profiles": 3000} {
		var n uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM "+table+" WHERE project_id = ?", project).Scan(&n); err != nil || n != want {
			t.Errorf("ClickHouse %s holds %d rows (%v), want %d", table, n, err, want)
		}
	}
	var messages uint64
	if err := ch.QueryRow(ctx, "SELECT uniqExact(message_id) FROM events WHERE project_id = ?", project).Scan(&messages); err != nil || messages != 20_000 {
		t.Errorf("%d distinct message ids (%v), want one per event", messages, err)
	}
}
