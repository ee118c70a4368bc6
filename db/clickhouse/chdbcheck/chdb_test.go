package chdbcheck_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	_ "unsafe" // for go:linkname

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/chdb-io/chdb-go/chdb"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/db/clickhouse"
)

// bind is clickhouse-go's own client-side binding: the function its native connection calls
// to write ?/@name arguments into the query text before sending it (conn_query.go, through
// bindQueryOrAppendParameters: with @name placeholders it always binds client-side, on 18.16
// and on current servers alike). chdb is not a server clickhouse-go can connect to, so to send
// chdb exactly the text a server would receive we call the same function. It is unexported;
// go:linkname reaches it. If a clickhouse-go upgrade renames it or changes its signature, this
// test stops linking ("relocation target ... not defined") instead of quietly binding
// differently; TestBindMatchesDriver pins the output form we rely on.
//
//go:linkname bind github.com/ClickHouse/clickhouse-go/v2.bind
func bind(tz *time.Location, query string, args ...any) (string, error)

// serverTZ stands for the server timezone clickhouse-go hands bind. A UTC time bound with UTC
// is written without a zone, so chdb reads it in its own zone and prints it back in the same
// one: the expected texts below hold whatever zone the machine runs in.
var serverTZ = time.UTC

var sampleTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// samples holds, for every query in clickhouse.Queries, the arguments to run it with: for a
// batch insert, its rows (each sent as INSERT ... VALUES); for anything else, one argument list.
// Values include quotes, backslashes and NUL so the binding's escaping is exercised too.
var samples = map[string][][]any{
	"conn.create_database": {nil},
	"migrate.create_table": {nil},
	"migrate.table_exists": {nil},
	"migrate.record": {
		{uint32(1), "0001_identity", sampleTime},
		{uint32(1), "0001_identity", sampleTime.Add(time.Second)}, // a concurrent run's duplicate
	},
	"migrate.applied": {nil},
	"projection.insert_mappings": {
		{"proj", "anon-1", "p-old", uint64(1)},
		{"proj", "anon-1", "p1", uint64(2)},
		{"proj", `it's\`, "p1", uint64(2)},
		{"proj", "anon-1", "p-older", uint64(0)}, // late, must lose
	},
	"projection.insert_profiles": {
		{"proj", "p1", "user-42", `{"plan":"pro"}`, "", false, uint64(2), sampleTime},
		{"proj", "p1", "", `{}`, "", true, uint64(3), sampleTime.Add(time.Hour)},
		{"proj", "p1", "user-42", `{"plan":"free"}`, "", false, uint64(1), sampleTime}, // late, must lose
	},
	"projection.lookup_mappings": {{
		ch.Named("project_id", "proj"),
		ch.Named("distinct_ids", ch.GroupSet{Value: []any{"anon-1", `it's\`, "nul\x00", "absent"}}),
	}},
	"projection.lookup_profiles": {{
		ch.Named("project_id", "proj"),
		ch.Named("profile_ids", ch.GroupSet{Value: []any{"p1", "absent"}}),
	}},
	"events.insert": {
		{"proj", "anon-1", "Viewed", "m1", `{"q":"it's \\ <b>"}`, sampleTime, sampleTime},
		{"proj", "anon-1", "Viewed", "m1", `{}`, sampleTime.Add(-time.Hour), sampleTime.Add(-time.Hour)}, // older copy: loses
		{"proj", "user-1", "Viewed", "m1", `{}`, sampleTime, sampleTime},                                 // tie: user-1 > anon-1 wins
		{"proj", "anon-1", "Signed Up", "m2", `{}`, sampleTime.Add(time.Minute), sampleTime.Add(time.Minute)},
		{"proj", "anon-1", "Signed Up", "m2", `{}`, sampleTime.Add(2 * time.Minute), sampleTime.Add(2 * time.Minute)}, // retry, new time: wins
		{"other", "anon-1", "Viewed", "m3", `{}`, sampleTime, sampleTime},
	},
	"events.stats": {{ // groups {anon-1} and {user-1, absent}
		ch.Named("project_id", "proj"),
		ch.Named("distinct_ids", ch.GroupSet{Value: []any{"anon-1", "user-1", "absent"}}),
		ch.Named("ids", []string{"anon-1", "user-1", "absent"}),
		ch.Named("group_of_id", []uint32{1, 2, 2}),
	}},
	"events.history": {{
		ch.Named("project_id", "proj"),
		ch.Named("distinct_ids", ch.GroupSet{Value: []any{"anon-1", "user-1"}}),
		ch.Named("after", 1), ch.Named("before_ts", uint32(sampleTime.Add(2*time.Minute).Unix())), ch.Named("before_id", "m2"),
		ch.Named("limit", 2),
	}},
	"settle.optimize": {{}},
}

// want holds the rows (JSONEachRow) a query must return after the samples before it ran,
// checking that the collapsing reads mean the same on the current engine.
var want = map[string][]map[string]string{
	"migrate.table_exists": {{"count()": "1"}},
	"migrate.applied":      {{"version": "1", "first_name": "0001_identity", "first_applied_at": "2025-03-04 05:06:07"}},
	"projection.lookup_mappings": {
		{"distinct_id": "anon-1", "latest_profile_id": "p1", "latest_version": "2"},
		{"distinct_id": `it's\`, "latest_profile_id": "p1", "latest_version": "2"},
	},
	"events.stats": { // every copy counts once per group and spans first and last
		{"stats_group": "1", "message_count": "2", "first_timestamp": "2025-03-04 04:06:07", "last_timestamp": "2025-03-04 05:08:07"},
		{"stats_group": "2", "message_count": "1", "first_timestamp": "2025-03-04 05:06:07", "last_timestamp": "2025-03-04 05:06:07"},
	},
	"events.history": {{
		"message_id": "m1", "winner_distinct_id": "user-1", "winner_event": "Viewed", "winner_properties": "{}",
		"winner_timestamp": "2025-03-04 05:06:07", "winner_received_at": "2025-03-04 05:06:07",
	}},
	"projection.lookup_profiles": {{
		"profile_id": "p1", "latest_external_id": "", "latest_traits": "{}", "latest_merged_into": "",
		"latest_deleted": "1", "latest_version": "3", "latest_updated_at": "2025-03-04 06:06:07",
	}},
}

func TestCurrentClickHouse(t *testing.T) {
	if os.Getenv("CHDB_LIB_PATH") == "" {
		t.Fatal("CHDB_LIB_PATH is not set: run scripts/setup.sh, then set CHDB_LIB_PATH to the libchdb.so it installs " +
			"(under .tools/node_modules/@chdb/lib-linux-x64-gnu/)")
	}
	// chdb allows one session per process: these subtests run in order, never in parallel.
	session, err := chdb.NewSession(t.TempDir())
	if err != nil {
		t.Fatalf("start chdb from CHDB_LIB_PATH=%s: %v (run scripts/setup.sh)", os.Getenv("CHDB_LIB_PATH"), err)
	}
	defer session.Close()
	// run returns the result rows with every value as text: whether JSON output quotes 64-bit
	// integers differs between versions, and is no concern of ours.
	run := func(t *testing.T, query string) []map[string]string {
		t.Helper()
		res, err := session.Query(query, "JSONEachRow")
		if err != nil {
			t.Fatalf("chdb refused:\n%s\n: %v", query, err)
		}
		var rows []map[string]string
		dec := json.NewDecoder(strings.NewReader(res.String()))
		dec.UseNumber()
		for dec.More() {
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("decode result of %s: %v", query, err)
			}
			row := make(map[string]string, len(raw))
			for k, v := range raw {
				row[k] = fmt.Sprint(v)
			}
			rows = append(rows, row)
		}
		return rows
	}
	version := run(t, "SELECT version() AS v")
	t.Logf("chdb runs ClickHouse %v", version[0]["v"])
	// Our SQL names no database: like a clickhouse:// URL's database, USE picks it.
	run(t, "CREATE DATABASE IF NOT EXISTS profiles_check")
	run(t, "USE profiles_check")

	t.Run("migrations", func(t *testing.T) {
		ms, err := clickhouse.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		for pass := 1; pass <= 2; pass++ { // twice: every statement must be idempotent here too
			for _, m := range ms {
				for i, stmt := range m.Statements {
					t.Logf("pass %d: %s statement %d", pass, m.Name, i+1)
					run(t, stmt)
				}
			}
		}
	})

	t.Run("queries", func(t *testing.T) {
		// DDL first, then the inserts, then the reads, so every read sees the samples.
		queries := clickhouse.Queries()
		slices.SortStableFunc(queries, func(a, b clickhouse.Query) int { return phase(a) - phase(b) })
		registered := map[string]bool{}
		for _, q := range queries {
			registered[q.Name] = true
			argLists, ok := samples[q.Name]
			if !ok {
				t.Errorf("query %s has no sample arguments in chdb_test.go: add some", q.Name)
				continue
			}
			var rows []map[string]string
			for _, args := range argLists {
				text := q.SQL
				if q.Batch {
					text += " VALUES (" + strings.Repeat("?, ", len(args)-1) + "?)"
				}
				bound, err := bind(serverTZ, text, args...)
				if err != nil {
					t.Fatalf("%s: bind: %v", q.Name, err)
				}
				rows = run(t, bound)
			}
			if w, ok := want[q.Name]; ok {
				if diff := cmp.Diff(w, rows, sortRows); diff != "" {
					t.Errorf("%s on ClickHouse %v (-want +got):\n%s", q.Name, version[0]["v"], diff)
				}
			}
		}
		for name := range samples {
			if !registered[name] {
				t.Errorf("samples has %s, which clickhouse.Queries does not list", name)
			}
		}
	})
}

func phase(q clickhouse.Query) int {
	switch {
	case strings.HasPrefix(q.SQL, "CREATE "):
		return 0
	case q.Batch:
		return 1
	default:
		return 2
	}
}

// sortRows compares result rows whatever order GROUP BY returned them in.
var sortRows = cmp.Transformer("sorted", func(rows []map[string]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
})

// TestBindMatchesDriver pins the forms of bound values the samples rely on, so a change in
// clickhouse-go's binding shows up here by name.
func TestBindMatchesDriver(t *testing.T) {
	got, err := bind(serverTZ, "SELECT @s, @set, @n, @b, @t",
		ch.Named("s", `a'b\c`+"\x00"),
		ch.Named("set", ch.GroupSet{Value: []any{"x", "y"}}),
		ch.Named("n", uint64(18446744073709551615)),
		ch.Named("b", true),
		ch.Named("t", sampleTime),
	)
	if err != nil {
		t.Fatal(err)
	}
	const want = `SELECT 'a\'b\\c\0', ('x', 'y'), 18446744073709551615, 1, toDateTime('2025-03-04 05:06:07')`
	if got != want {
		t.Errorf("bind =\n%s\nwant\n%s", got, want)
	}
}
