package jobs_test

import (
	"context"
	"encoding/json"
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
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
)

// projectionRun works projection jobs with a real River client into a fresh ClickHouse
// database, with Postgres holding profiles, and reads back what a read would see.
func projectionRun(t *testing.T, inPostgres []identity.Snapshot, argsInOrder ...[]river.JobArgs) (map[string]clickhouse.MappingRow, map[string]clickhouse.ProfileRow) {
	t.Helper()
	ctx := context.Background()
	pool, conn := pgtest.New(t), chtest.New(t)
	for _, p := range inPostgres {
		_, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, external_id, effective, merged_into, deleted_at, version, updated_at)
VALUES ($1, $2, nullif($3, ''), coalesce($4::jsonb, '{}'), nullif($5, ''), CASE WHEN $6 THEN $8::timestamptz END, $7, $8)`,
			p.ProjectID, p.ID, p.ExternalID, p.Traits, p.MergedInto, p.Deleted, p.Version, p.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
	}
	batcher := jobs.NewBatcher(postgres.NewSnapshotReader(pool), clickhouse.ChangeSink{Conn: conn}, 1000, 20*time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	batcher.Start()
	defer batcher.Stop()
	workers := river.NewWorkers()
	jobs.RegisterProjection(workers, batcher)
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
// at once, gives exactly what one clean run gives; an older change arriving last loses; and a
// job projects its profiles as Postgres holds them when it runs, so even a late older job
// writes the newest state.
func TestProjectionJobTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Postgres after both changes: prof_b (anonymous, v5) merged into prof_a at v9.
	current := []identity.Snapshot{
		{ProjectID: "p", ID: "prof_a", ExternalID: "u1", Traits: identity.Traits{"plan": "pro", "ref": "ad"}, Version: 9, UpdatedAt: at},
		{ProjectID: "p", ID: "prof_b", MergedInto: "prof_a", Traits: identity.Traits{"ref": "ad"}, Version: 9, UpdatedAt: at},
	}
	older := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 5, ProfileIDs: []string{"prof_b"},
		Mappings: []identity.Mapping{{DistinctID: "a1", ProfileID: "prof_b", Version: 5}, {DistinctID: "a2", ProfileID: "prof_b", Version: 5}},
	}}}
	newer := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 9, ProfileIDs: []string{"prof_a", "prof_b"},
		Mappings: []identity.Mapping{{DistinctID: "u1", ProfileID: "prof_a", Version: 9}, {DistinctID: "a1", ProfileID: "prof_a", Version: 9}, {DistinctID: "a2", ProfileID: "prof_a", Version: 9}},
	}}}

	_, lateOnly := projectionRun(t, current, []river.JobArgs{older})
	if got := lateOnly["prof_b"]; got.MergedInto != "prof_a" || got.Version != 9 {
		t.Errorf("the v5 job alone projected prof_b as %+v; want its current state (merged into prof_a, v9)", got)
	}

	cleanM, cleanP := projectionRun(t, current, []river.JobArgs{older}, []river.JobArgs{newer})
	if cleanM["a2"].ProfileID != "prof_a" || cleanP["prof_b"].MergedInto != "prof_a" || cleanP["prof_a"].Traits != `{"plan":"pro","ref":"ad"}` {
		t.Fatalf("clean run: a2 -> %q, prof_b merged into %q, prof_a traits %s; want the newer change (prof_a, plan pro)",
			cleanM["a2"].ProfileID, cleanP["prof_b"].MergedInto, cleanP["prof_a"].Traits)
	}
	// The newer change twice at once, again, and the older one last.
	gotM, gotP := projectionRun(t, current, []river.JobArgs{newer, newer}, []river.JobArgs{newer}, []river.JobArgs{older})
	if diff := cmp.Diff(cleanM, gotM); diff != "" {
		t.Errorf("mappings after repeated, concurrent and out-of-order jobs (-clean +got):\n%s", diff)
	}
	if diff := cmp.Diff(cleanP, gotP); diff != "" {
		t.Errorf("profiles after repeated, concurrent and out-of-order jobs (-clean +got):\n%s", diff)
	}
}

// TestProjectionArgsWire: a job's ids travel packed into one string per field (one GIN entry
// each in River's args index, not one per id), come back whole, and the jobs of earlier
// releases still decode.
func TestProjectionArgsWire(t *testing.T) {
	t.Parallel()
	want := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 9, ProfileIDs: []string{"prof_a", "prof_b"},
		Mappings: []identity.Mapping{{DistinctID: "a 1", ProfileID: "prof_a", Version: 9}, {DistinctID: "ü\"x", ProfileID: "prof_b", Version: 8}}}}}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Changes []map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"profileIds", "mappings"} {
		if _, ok := shape.Changes[0][field].(string); !ok {
			t.Errorf("%s on the wire = %T (%s); want one string", field, shape.Changes[0][field], b)
		}
	}
	var got jobs.ProjectionArgs
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip of %s (-want +got):\n%s", b, diff)
	}

	earlier := map[string]string{
		"whole profiles (to 2026-11)": `{"changes":[{"projectId":"p","version":9,
"profiles":[{"id":"prof_a","externalId":"u1","traits":{"plan":"pro"},"version":9,"updatedAt":"2026-01-02T03:04:05Z"},{"id":"prof_b","mergedInto":"prof_a","version":9}],
"mappings":[{"distinctId":"a 1","profileId":"prof_a","version":9},{"distinctId":"ü\"x","profileId":"prof_b","version":8}]}]}`,
		"id arrays": `{"changes":[{"projectId":"p","version":9,"profileIds":["prof_a","prof_b"],
"mappings":[{"distinctId":"a 1","profileId":"prof_a","version":9},{"distinctId":"ü\"x","profileId":"prof_b","version":8}]}]}`,
	}
	for name, legacy := range earlier {
		var got jobs.ProjectionArgs
		if err := json.Unmarshal([]byte(legacy), &got); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	hostile := jobs.ProjectionArgs{Changes: []identity.Change{{ProjectID: "p", Version: 9,
		Mappings: []identity.Mapping{{DistinctID: "x\tprof_victim\t99\ny", ProfileID: "prof_a", Version: 9}}}}}
	if b, err := json.Marshal(hostile); err == nil {
		t.Errorf("a distinct id holding tabs and a newline packed as %s; want an error, not ids nobody wrote", b)
	}
	var bad jobs.ProjectionArgs
	if err := json.Unmarshal([]byte(`{"changes":[{"projectId":"p","version":9,"mappings":"a1\tprof_a"}]}`), &bad); err == nil {
		t.Errorf("a mapping line without its version decoded as %+v; want an error (the job retries, nothing is dropped)", bad)
	}
}

// releasedJob is a projection job as the release before 2026-12 enqueued it: its kind, whole
// profiles and mapping objects.
type releasedJob struct{ args string }

func (releasedJob) Kind() string                   { return "identity_projection" }
func (j releasedJob) MarshalJSON() ([]byte, error) { return []byte(j.args), nil }
func (releasedJob) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueProjection}
}

// TestProjectionJobsQueuedByTheLastRelease: jobs left in the queue at an upgrade are worked
// (not refused as an unknown kind) and project what they name; new jobs have a kind of their
// own, so a worker of the last release cannot complete them as empty changes.
func TestProjectionJobsQueuedByTheLastRelease(t *testing.T) {
	t.Parallel()
	if jobs.KindProjection == (releasedJob{}).Kind() {
		t.Fatalf("new projection jobs reuse the last release's kind %q, whose workers would decode them as empty", jobs.KindProjection)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	current := []identity.Snapshot{
		{ProjectID: "p", ID: "prof_a", ExternalID: "u1", Traits: identity.Traits{"plan": "pro"}, Version: 9, UpdatedAt: at},
		{ProjectID: "p", ID: "prof_b", Deleted: true, Version: 9, UpdatedAt: at},
	}
	old := releasedJob{args: `{"changes":[{"projectId":"p","version":9,
"profiles":[{"id":"prof_a","externalId":"u1","traits":{"plan":"pro"},"version":9,"updatedAt":"2026-01-02T03:04:05Z"},{"id":"prof_b","deleted":true,"version":9}],
"mappings":[{"distinctId":"u1","profileId":"prof_a","version":9}]}]}`}
	m, p := projectionRun(t, current, []river.JobArgs{old})
	if m["u1"].ProfileID != "prof_a" || p["prof_a"].Traits != `{"plan":"pro"}` || !p["prof_b"].Deleted {
		t.Errorf("after the last release's job: u1 -> %q, prof_a %+v, prof_b %+v; want u1 -> prof_a, plan pro, prof_b deleted",
			m["u1"].ProfileID, p["prof_a"], p["prof_b"])
	}
}
