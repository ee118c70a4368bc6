package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
)

// projectionRun works projection jobs with a real River client into a fresh ClickHouse
// database, and reads back what a read would see.
func projectionRun(t *testing.T, argsInOrder ...[]jobs.ProjectionArgs) (map[string]clickhouse.MappingRow, map[string]clickhouse.ProfileRow) {
	t.Helper()
	ctx := context.Background()
	pool, conn := pgtest.New(t), chtest.New(t)
	batcher := jobs.NewBatcher(clickhouse.ChangeSink{Conn: conn}, 1000, 20*time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	batcher.Start()
	defer batcher.Stop()
	workers := river.NewWorkers()
	river.AddWorker(workers, &jobs.ProjectionWorker{Batcher: batcher})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{jobs.QueueProjection: {MaxWorkers: 10}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(ctx)

	total := 0
	for _, wave := range argsInOrder {
		// Each wave is inserted at once, so its jobs run concurrently; waves run one after another.
		var wg sync.WaitGroup
		for _, args := range wave {
			wg.Go(func() {
				if _, err := client.Insert(ctx, args, nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		total += len(wave)
		waitCompleted(t, ctx, pool, total)
	}
	ids := []string{"a1", "a2", "u1"}
	mappings, err := clickhouse.LookupMappings(ctx, conn, "p", ids)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := clickhouse.LookupProfiles(ctx, conn, "p", []string{"prof_a", "prof_b"})
	if err != nil {
		t.Fatal(err)
	}
	return mappings, profiles
}

func waitCompleted(t *testing.T, ctx context.Context, pool *pgxpool.Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d projection jobs completed after 15s", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProjectionJobTwiceAndConcurrently: running the same projection job twice, and two copies
// at once, gives exactly what one clean run gives; an older change arriving last loses.
func TestProjectionJobTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	older := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 5,
		Profiles: []identity.Snapshot{{ID: "prof_b", ExternalID: "", Traits: identity.Traits{"ref": "ad"}, Version: 5, UpdatedAt: at}},
		Mappings: []identity.Mapping{{DistinctID: "a1", ProfileID: "prof_b", Version: 5}, {DistinctID: "a2", ProfileID: "prof_b", Version: 5}},
	}}}
	newer := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 9,
		Profiles: []identity.Snapshot{
			{ID: "prof_a", ExternalID: "u1", Traits: identity.Traits{"plan": "pro", "ref": "ad"}, Version: 9, UpdatedAt: at},
			{ID: "prof_b", MergedInto: "prof_a", Traits: identity.Traits{"ref": "ad"}, Version: 9, UpdatedAt: at},
		},
		Mappings: []identity.Mapping{{DistinctID: "u1", ProfileID: "prof_a", Version: 9}, {DistinctID: "a1", ProfileID: "prof_a", Version: 9}, {DistinctID: "a2", ProfileID: "prof_a", Version: 9}},
	}}}

	cleanM, cleanP := projectionRun(t, []jobs.ProjectionArgs{older}, []jobs.ProjectionArgs{newer})
	if cleanM["a2"].ProfileID != "prof_a" || cleanP["prof_b"].MergedInto != "prof_a" {
		t.Fatalf("clean run: a2 -> %q, prof_b merged into %q; want the newer change (prof_a)", cleanM["a2"].ProfileID, cleanP["prof_b"].MergedInto)
	}
	// The newer change twice at once, again, and the older one last.
	gotM, gotP := projectionRun(t, []jobs.ProjectionArgs{newer, newer}, []jobs.ProjectionArgs{newer}, []jobs.ProjectionArgs{older})
	if diff := cmp.Diff(cleanM, gotM); diff != "" {
		t.Errorf("mappings after repeated, concurrent and out-of-order jobs (-clean +got):\n%s", diff)
	}
	if diff := cmp.Diff(cleanP, gotP); diff != "" {
		t.Errorf("profiles after repeated, concurrent and out-of-order jobs (-clean +got):\n%s", diff)
	}
}
