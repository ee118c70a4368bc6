package clickhouse_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
)

var updatedAt = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// sampleBatch is what one projection job might write: p1 absorbed p2, which still exists
// as merged, and p3 is deleted.
func sampleBatch(project string) ([]clickhouse.MappingRow, []clickhouse.ProfileRow) {
	mappings := []clickhouse.MappingRow{
		{ProjectID: project, DistinctID: "anon-1", ProfileID: "p1", Version: 3},
		{ProjectID: project, DistinctID: "user@example.com", ProfileID: "p1", Version: 3},
		{ProjectID: project, DistinctID: "anon-2", ProfileID: "p1", Version: 4},
		{ProjectID: project, DistinctID: "gone", ProfileID: "p3", Version: 9},
	}
	profiles := []clickhouse.ProfileRow{
		{ProjectID: project, ProfileID: "p1", ExternalID: "user-42", Traits: `{"plan":"pro","n":1}`, Version: 4, UpdatedAt: updatedAt},
		{ProjectID: project, ProfileID: "p2", Traits: `{}`, MergedInto: "p1", Version: 4, UpdatedAt: updatedAt},
		{ProjectID: project, ProfileID: "p3", Traits: `{}`, Deleted: true, Version: 9, UpdatedAt: updatedAt.Add(time.Hour)},
	}
	return mappings, profiles
}

var (
	sampleDistinctIDs = []string{"anon-1", "user@example.com", "anon-2", "gone", "never-seen"}
	sampleProfileIDs  = []string{"p1", "p2", "p3", "p-never"}
)

// readBack reads the sample ids back through the read path the service uses.
func readBack(t *testing.T, conn driver.Conn, project string) (map[string]clickhouse.MappingRow, map[string]clickhouse.ProfileRow) {
	t.Helper()
	ctx := context.Background()
	ms, err := clickhouse.LookupMappings(ctx, conn, project, sampleDistinctIDs)
	if err != nil {
		t.Fatalf("LookupMappings: %v", err)
	}
	ps, err := clickhouse.LookupProfiles(ctx, conn, project, sampleProfileIDs)
	if err != nil {
		t.Fatalf("LookupProfiles: %v", err)
	}
	return ms, ps
}

func byDistinctID(rows []clickhouse.MappingRow) map[string]clickhouse.MappingRow {
	out := map[string]clickhouse.MappingRow{}
	for _, r := range rows {
		out[r.DistinctID] = r
	}
	return out
}

func byProfileID(rows []clickhouse.ProfileRow) map[string]clickhouse.ProfileRow {
	out := map[string]clickhouse.ProfileRow{}
	for _, r := range rows {
		out[r.ProfileID] = r
	}
	return out
}

func write(t *testing.T, conn driver.Conn, mappings []clickhouse.MappingRow, profiles []clickhouse.ProfileRow) {
	t.Helper()
	if err := clickhouse.WriteProjection(context.Background(), conn, mappings, profiles); err != nil {
		t.Fatalf("WriteProjection: %v", err)
	}
}

func countRows(t *testing.T, conn driver.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestWriteProjectionRoundTrip(t *testing.T) {
	t.Parallel()
	conn := chtest.New(t)
	mappings, profiles := sampleBatch("proj")
	write(t, conn, mappings, profiles)

	ms, ps := readBack(t, conn, "proj")
	if diff := cmp.Diff(byDistinctID(mappings), ms); diff != "" {
		t.Errorf("LookupMappings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(byProfileID(profiles), ps); diff != "" {
		t.Errorf("LookupProfiles (-want +got):\n%s", diff)
	}
}

func TestWriteProjectionTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	once, twice := chtest.New(t), chtest.New(t)
	mappings, profiles := sampleBatch("proj")
	write(t, once, mappings, profiles)
	write(t, twice, mappings, profiles)
	write(t, twice, mappings, profiles)

	ms1, ps1 := readBack(t, once, "proj")
	ms2, ps2 := readBack(t, twice, "proj")
	if diff := cmp.Diff(ms1, ms2); diff != "" {
		t.Errorf("mappings after two writes differ from one write (-once +twice):\n%s", diff)
	}
	if diff := cmp.Diff(ps1, ps2); diff != "" {
		t.Errorf("profiles after two writes differ from one write (-once +twice):\n%s", diff)
	}
}

func TestWriteProjectionConcurrent(t *testing.T) {
	t.Parallel()
	once, raced := chtest.New(t), chtest.New(t)
	mappings, profiles := sampleBatch("proj")
	write(t, once, mappings, profiles)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = clickhouse.WriteProjection(context.Background(), raced, mappings, profiles) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent WriteProjection #%d: %v", i, err)
		}
	}
	ms1, ps1 := readBack(t, once, "proj")
	ms2, ps2 := readBack(t, raced, "proj")
	if diff := cmp.Diff(ms1, ms2); diff != "" {
		t.Errorf("mappings after concurrent writes differ from one write (-once +raced):\n%s", diff)
	}
	if diff := cmp.Diff(ps1, ps2); diff != "" {
		t.Errorf("profiles after concurrent writes differ from one write (-once +raced):\n%s", diff)
	}
}

// TestOlderVersionNeverWins writes a newer state, then the older one (a late or replayed job),
// and checks the newer state is read, before and after the server merges the parts.
func TestOlderVersionNeverWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	newer := clickhouse.ProfileRow{ProjectID: "proj", ProfileID: "p1", Traits: `{}`, Deleted: true, Version: 7, UpdatedAt: updatedAt.Add(time.Minute)}
	older := clickhouse.ProfileRow{ProjectID: "proj", ProfileID: "p1", ExternalID: "user-42", Traits: `{"plan":"pro"}`, Version: 6, UpdatedAt: updatedAt}
	write(t, conn,
		[]clickhouse.MappingRow{{ProjectID: "proj", DistinctID: "d1", ProfileID: "p-new", Version: 7}},
		[]clickhouse.ProfileRow{newer})
	write(t, conn,
		[]clickhouse.MappingRow{{ProjectID: "proj", DistinctID: "d1", ProfileID: "p-old", Version: 6}},
		[]clickhouse.ProfileRow{older})

	check := func(when string) {
		t.Helper()
		ms, err := clickhouse.LookupMappings(ctx, conn, "proj", []string{"d1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := ms["d1"]; got.ProfileID != "p-new" || got.Version != 7 {
			t.Errorf("%s: d1 -> %+v, want p-new at version 7", when, got)
		}
		ps, err := clickhouse.LookupProfiles(ctx, conn, "proj", []string{"p1"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(newer, ps["p1"]); diff != "" {
			t.Errorf("%s: p1 (-want newer +got):\n%s", when, diff)
		}
	}
	check("before merge")
	for _, table := range []string{"distinct_id_map", "profiles"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatalf("optimize %s: %v", table, err)
		}
	}
	check("after merge")
	if got := countRows(t, conn, "profiles"); got != 1 {
		t.Errorf("profiles holds %d rows after OPTIMIZE FINAL, want 1 (ReplacingMergeTree keeps the highest version)", got)
	}
}

func TestLookupIsPerProject(t *testing.T) {
	t.Parallel()
	conn := chtest.New(t)
	mappings, profiles := sampleBatch("project-a")
	write(t, conn, mappings, profiles)

	ms, ps := readBack(t, conn, "project-b")
	if len(ms) != 0 || len(ps) != 0 {
		t.Errorf("project-b reads %v and %v of project-a's rows, want none", ms, ps)
	}
}

func TestLookupHostileIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	hostile := []string{`a'b`, `c\`, "nul\x00byte", `') OR 1=1 --`, "@distinct_ids", "?", "é😀", "line\nbreak"}
	var rows []clickhouse.MappingRow
	for i, id := range hostile {
		rows = append(rows, clickhouse.MappingRow{ProjectID: "proj", DistinctID: id, ProfileID: fmt.Sprintf("p%d", i), Version: 1})
	}
	rows = append(rows, clickhouse.MappingRow{ProjectID: "proj", DistinctID: "innocent", ProfileID: "px", Version: 1})
	write(t, conn, rows, nil)

	got, err := clickhouse.LookupMappings(ctx, conn, "proj", hostile)
	if err != nil {
		t.Fatalf("LookupMappings: %v", err)
	}
	if diff := cmp.Diff(byDistinctID(rows[:len(hostile)]), got); diff != "" {
		t.Errorf("LookupMappings of hostile ids (-want +got):\n%s", diff)
	}
	got, err = clickhouse.LookupMappings(ctx, conn, `proj' OR '1'='1`, []string{"innocent"})
	if err != nil || len(got) != 0 {
		t.Errorf("LookupMappings with a hostile project = %v, %v; want nothing", got, err)
	}
}

// TestLookupManyIDs asks for more ids, and longer ones, than one query can carry
// (max_query_size is 256 KiB), with repeats.
func TestLookupManyIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	const n = 2500
	var (
		mappings []clickhouse.MappingRow
		ids      []string
	)
	for i := range n {
		id := fmt.Sprintf("%s-%d", strings.Repeat("x", 150), i)
		mappings = append(mappings, clickhouse.MappingRow{ProjectID: "proj", DistinctID: id, ProfileID: fmt.Sprint("p", i), Version: 1})
		ids = append(ids, id, id)
	}
	write(t, conn, mappings, nil)

	got, err := clickhouse.LookupMappings(ctx, conn, "proj", ids)
	if err != nil {
		t.Fatalf("LookupMappings of %d ids: %v", len(ids), err)
	}
	if diff := cmp.Diff(byDistinctID(mappings), got); diff != "" {
		t.Errorf("LookupMappings (-want +got):\n%s", diff)
	}
}

func TestEmptyInputsSendNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.New(t)
	if err := clickhouse.WriteProjection(ctx, conn, nil, nil); err != nil {
		t.Errorf("WriteProjection(nil, nil) = %v, want nil", err)
	}
	ms, err := clickhouse.LookupMappings(ctx, conn, "proj", nil)
	if err != nil || len(ms) != 0 {
		t.Errorf("LookupMappings(no ids) = %v, %v; want empty", ms, err)
	}
	ps, err := clickhouse.LookupProfiles(ctx, conn, "proj", []string{})
	if err != nil || len(ps) != 0 {
		t.Errorf("LookupProfiles(no ids) = %v, %v; want empty", ps, err)
	}
}

// TestUpdatedAtOutsideDateTime writes times DateTime cannot hold; they are clamped, not
// wrapped around (2200 would otherwise read back as 2063).
func TestUpdatedAtOutsideDateTime(t *testing.T) {
	t.Parallel()
	conn := chtest.New(t)
	rows := []clickhouse.ProfileRow{
		{ProjectID: "proj", ProfileID: "zero", Version: 1},
		{ProjectID: "proj", ProfileID: "future", Version: 1, UpdatedAt: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	write(t, conn, nil, rows)
	got, err := clickhouse.LookupProfiles(context.Background(), conn, "proj", []string{"zero", "future"})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(0, 0).UTC(); !got["zero"].UpdatedAt.Equal(want) {
		t.Errorf("zero UpdatedAt read back as %v, want %v", got["zero"].UpdatedAt, want)
	}
	if want := time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC); !got["future"].UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt in 2200 read back as %v, want the last DateTime %v", got["future"].UpdatedAt, want)
	}
}
