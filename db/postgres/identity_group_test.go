package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/identity"
)

// TestGroupCommitFailsOnlyTheFailingWrite runs refused merges beside good writes, so groups
// mix both: each refused one fails alone and writes nothing; every other write lands.
func TestGroupCommitFailsOnlyTheFailingWrite(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	ctx := context.Background()
	for _, u := range []string{"u1", "u2"} {
		if _, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: u}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = b.svc.Alias(ctx, "p", identity.AliasRequest{PreviousID: "u2", ExternalID: "u1"})
				return
			}
			_, errs[i] = b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: fmt.Sprintf("n%d", i),
				Traits: identity.TraitOps{Set: identity.Traits{"i": float64(i)}}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && !errors.Is(err, identity.ErrBothIdentified) {
			t.Errorf("refused alias %d = %v, want ErrBothIdentified", i, err)
		}
		if i%2 == 1 && err != nil {
			t.Errorf("identify %d failed beside refused writes: %v", i, err)
		}
	}
	var live, u2 int
	_ = b.pool.QueryRow(ctx, `SELECT count(*) FROM profiles WHERE project_id = 'p' AND merged_into IS NULL`).Scan(&live)
	_ = b.pool.QueryRow(ctx, `SELECT count(DISTINCT profile_id) FROM distinct_ids WHERE project_id = 'p' AND distinct_id IN ('u1', 'u2')`).Scan(&u2)
	if live != 102 || u2 != 2 {
		t.Errorf("%d live profiles and u1/u2 on %d profiles, want 102 and 2 (no refused merge written)", live, u2)
	}
}

// TestGroupCommitSurvivesCancelledCallers cancels callers while they wait in the queue; the
// store must neither hang nor lose its leaders, so later writes still go through.
func TestGroupCommitSurvivesCancelledCallers(t *testing.T) {
	t.Parallel()
	b := setupIdentity(t)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*time.Millisecond)
			defer cancel()
			_, _ = b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: fmt.Sprintf("c%d", i)})
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 8 {
		if _, err := b.svc.Identify(ctx, "p", identity.IdentifyRequest{ExternalID: fmt.Sprintf("after%d", i)}); err != nil {
			t.Fatalf("identify after cancelled callers: %v (leaders lost?)", err)
		}
	}
}
