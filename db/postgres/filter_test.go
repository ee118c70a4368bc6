package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The SQL of each shape, with $1 as the first placeholder. Pinned here so a change to the
// vocabulary in filter.go is a visible diff in review.
const (
	wantContainsString = `(CASE jsonb_typeof(effective #> $1::text[]) WHEN 'string' THEN lower(effective #>> $1::text[]) LIKE lower($2::text) WHEN 'array' THEN effective #> $1::text[] @> $3::jsonb ELSE false END)`
	wantNumberGt       = `(CASE jsonb_typeof(effective #> $1::text[]) WHEN 'number' THEN (effective #>> $1::text[])::numeric > $2::numeric ELSE false END)`
	wantTimeLte        = `(CASE WHEN jsonb_typeof(effective #> $1::text[]) = 'string' AND effective #>> $1::text[] ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$' THEN coalesce(profiles_try_timestamptz(effective #>> $1::text[]) <= $2::timestamptz, false) ELSE false END)`
)

func TestCompileFilters(t *testing.T) {
	t.Parallel()
	signup := time.Date(2024, 3, 1, 10, 0, 0, 123457000, time.FixedZone("", 3600))
	tests := []struct {
		name     string
		filters  []Filter
		firstArg int
		wantSQL  string
		wantArgs []any
	}{
		{name: "none", firstArg: 1},
		{
			name:     "eq string",
			filters:  []Filter{{Key: "plan", Op: FilterEq, Value: "pro"}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb)`,
			wantArgs: []any{`{"plan":"pro"}`},
		},
		{
			name:     "eq nested number from $3",
			filters:  []Filter{{Key: "address.geo.lat", Op: FilterEq, Value: 48.5}},
			firstArg: 3,
			wantSQL:  `(effective @> $3::jsonb)`,
			wantArgs: []any{`{"address":{"geo":{"lat":48.5}}}`},
		},
		{
			name:     "eq null and bool",
			filters:  []Filter{{Key: "a", Op: FilterEq, Value: nil}, {Key: "b", Op: FilterEq, Value: true}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb) AND (effective @> $2::jsonb)`,
			wantArgs: []any{`{"a":null}`, `{"b":true}`},
		},
		{
			name:     "neq",
			filters:  []Filter{{Key: "plan", Op: FilterNeq, Value: `pro"); DROP TABLE profiles; --`}},
			firstArg: 1,
			wantSQL:  `(NOT (effective @> $1::jsonb))`,
			wantArgs: []any{`{"plan":"pro\"); DROP TABLE profiles; --"}`},
		},
		{
			name:     "contains string escapes LIKE",
			filters:  []Filter{{Key: "note", Op: FilterContains, Value: `50%_\x`}},
			firstArg: 1,
			wantSQL:  wantContainsString,
			wantArgs: []any{[]string{"note"}, `%50\%\_\\x%`, `"50%_\\x"`},
		},
		{
			name:     "contains number on nested arrays",
			filters:  []Filter{{Key: "a.lucky", Op: FilterContains, Value: 7.0}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb AND CASE jsonb_typeof(effective #> $2::text[]) WHEN 'array' THEN effective #> $2::text[] @> $3::jsonb ELSE false END)`,
			wantArgs: []any{`{"a":{}}`, []string{"a", "lucky"}, `7`},
		},
		{
			name:     "exists top level",
			filters:  []Filter{{Key: "email", Op: FilterExists}},
			firstArg: 1,
			wantSQL:  `(effective ? $1::text)`,
			wantArgs: []any{"email"},
		},
		{
			name:     "not exists top level",
			filters:  []Filter{{Key: "email", Op: FilterNotExists}},
			firstArg: 1,
			wantSQL:  `(NOT (effective ? $1::text))`,
			wantArgs: []any{"email"},
		},
		{
			name:     "exists nested",
			filters:  []Filter{{Key: "a.b.c", Op: FilterExists}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb AND effective #> $2::text[] IS NOT NULL)`,
			wantArgs: []any{`{"a":{"b":{}}}`, []string{"a", "b", "c"}},
		},
		{
			name:     "not exists nested",
			filters:  []Filter{{Key: "a.b", Op: FilterNotExists}},
			firstArg: 1,
			wantSQL:  `(NOT (effective @> $1::jsonb AND effective #> $2::text[] IS NOT NULL))`,
			wantArgs: []any{`{"a":{}}`, []string{"a", "b"}},
		},
		{
			name:     "gt number",
			filters:  []Filter{{Key: "age", Op: FilterGt, Value: 21.0}},
			firstArg: 1,
			wantSQL:  wantNumberGt,
			wantArgs: []any{[]string{"age"}, 21.0},
		},
		{
			name: "gte lt number",
			filters: []Filter{
				{Key: "age", Op: FilterGte, Value: 21.0},
				{Key: "age", Op: FilterLt, Value: -1e300},
			},
			firstArg: 1,
			wantSQL: `(CASE jsonb_typeof(effective #> $1::text[]) WHEN 'number' THEN (effective #>> $1::text[])::numeric >= $2::numeric ELSE false END)` +
				` AND (CASE jsonb_typeof(effective #> $3::text[]) WHEN 'number' THEN (effective #>> $3::text[])::numeric < $4::numeric ELSE false END)`,
			wantArgs: []any{[]string{"age"}, 21.0, []string{"age"}, -1e300},
		},
		{
			name:     "lte time rounds to microseconds",
			filters:  []Filter{{Key: "signup", Op: FilterLte, Value: "2024-03-01T10:00:00.1234567+01:00"}},
			firstArg: 1,
			wantSQL:  wantTimeLte,
			wantArgs: []any{[]string{"signup"}, signup},
		},
		{
			name:     "gt time nested",
			filters:  []Filter{{Key: "billing.renews", Op: FilterGt, Value: "2024-03-01T10:00:00Z"}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb AND CASE WHEN jsonb_typeof(effective #> $2::text[]) = 'string' AND effective #>> $2::text[] ~ '` + rfc3339Shape + `' THEN coalesce(profiles_try_timestamptz(effective #>> $2::text[]) > $3::timestamptz, false) ELSE false END)`,
			wantArgs: []any{`{"billing":{}}`, []string{"billing", "renews"}, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)},
		},
		{
			name:     "unicode key and value",
			filters:  []Filter{{Key: "città", Op: FilterEq, Value: "Zürich <&>"}},
			firstArg: 1,
			wantSQL:  `(effective @> $1::jsonb)`,
			wantArgs: []any{`{"città":"Zürich \u003c\u0026\u003e"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sql, args, err := compileFilters(tt.filters, tt.firstArg)
			if err != nil {
				t.Fatalf("compileFilters: %v", err)
			}
			if diff := cmp.Diff(tt.wantSQL, sql); diff != "" {
				t.Errorf("SQL (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantArgs, args, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileFiltersErrors(t *testing.T) {
	t.Parallel()
	ok := Filter{Key: "plan", Op: FilterEq, Value: "pro"}
	tooMany := make([]Filter, maxFilters+1)
	for i := range tooMany {
		tooMany[i] = ok
	}
	tests := []struct {
		name    string
		filters []Filter
		want    FilterError
	}{
		{"too many filters", tooMany, FilterError{-1, "filters", "at most 20 filters"}},
		{"empty key", []Filter{ok, {Op: FilterExists}}, FilterError{1, "filters[1].key", "must not be empty"}},
		{"long key", []Filter{{Key: strings.Repeat("k", 129), Op: FilterExists}}, FilterError{0, "filters[0].key", "must be at most 128 bytes"}},
		{"deep key", []Filter{{Key: "a.b.c.d.e.f.g.h.i.j.k", Op: FilterExists}}, FilterError{0, "filters[0].key", "must have at most 10 '.'-separated parts"}},
		{"empty part", []Filter{{Key: "a..b", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not have an empty or blank part between '.'s"}},
		{"trailing dot", []Filter{{Key: "a.", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not have an empty or blank part between '.'s"}},
		{"blank key", []Filter{{Key: "  ", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not have an empty or blank part between '.'s"}},
		{"control char", []Filter{{Key: "a\nb", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not contain control characters"}},
		{"NUL in key", []Filter{{Key: "a\x00", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not contain control characters"}},
		{"invalid UTF-8 key", []Filter{{Key: "a\xff", Op: FilterExists}}, FilterError{0, "filters[0].key", "must be valid UTF-8"}},
		{"dollar key", []Filter{{Key: "$where", Op: FilterExists}}, FilterError{0, "filters[0].key", "must not contain '$'"}},
		{"zero op", []Filter{{Key: "a"}}, FilterError{0, "filters[0].op", "unknown operator"}},
		{"unknown op", []Filter{{Key: "a", Op: FilterLte + 1}}, FilterError{0, "filters[0].op", "unknown operator"}},
		{"int value", []Filter{{Key: "a", Op: FilterEq, Value: 3}}, FilterError{0, "filters[0].value", "must be a string, number, boolean or null"}},
		{"array value", []Filter{{Key: "a", Op: FilterEq, Value: []any{"x"}}}, FilterError{0, "filters[0].value", "must be a string, number, boolean or null"}},
		{"object value", []Filter{{Key: "a", Op: FilterNeq, Value: map[string]any{}}}, FilterError{0, "filters[0].value", "must be a string, number, boolean or null"}},
		{"NaN", []Filter{{Key: "a", Op: FilterEq, Value: math.NaN()}}, FilterError{0, "filters[0].value", "must be a finite number"}},
		{"Inf", []Filter{{Key: "a", Op: FilterGt, Value: math.Inf(1)}}, FilterError{0, "filters[0].value", "must be a finite number"}},
		{"NUL value", []Filter{{Key: "a", Op: FilterContains, Value: "x\x00"}}, FilterError{0, "filters[0].value", "must not contain NUL characters"}},
		{"invalid UTF-8 value", []Filter{{Key: "a", Op: FilterEq, Value: "\xc3"}}, FilterError{0, "filters[0].value", "must be valid UTF-8"}},
		{"long value", []Filter{{Key: "a", Op: FilterEq, Value: strings.Repeat("v", 8<<10+1)}}, FilterError{0, "filters[0].value", "must be at most 8192 bytes"}},
		{"exists with value", []Filter{{Key: "a", Op: FilterExists, Value: "x"}}, FilterError{0, "filters[0].value", "must be empty for exists"}},
		{"not exists with value", []Filter{{Key: "a.b", Op: FilterNotExists, Value: false}}, FilterError{0, "filters[0].value", "must be empty for not_exists"}},
		{"gt bool", []Filter{{Key: "a", Op: FilterGt, Value: true}}, FilterError{0, "filters[0].value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for gt"}},
		{"gte null", []Filter{{Key: "a", Op: FilterGte, Value: nil}}, FilterError{0, "filters[0].value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for gte"}},
		{"lt date only", []Filter{{Key: "a", Op: FilterLt, Value: "2024-01-02"}}, FilterError{0, "filters[0].value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for lt"}},
		{"lte no offset", []Filter{ok, ok, {Key: "a", Op: FilterLte, Value: "2024-01-02T15:04:05"}}, FilterError{2, "filters[2].value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for lte"}},
		{"lt numeric string", []Filter{{Key: "a", Op: FilterLt, Value: "42"}}, FilterError{0, "filters[0].value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for lt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sql, args, err := compileFilters(tt.filters, 1)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("compileFilters error = %v, want a *FilterError", err)
			}
			if diff := cmp.Diff(tt.want, *fe); diff != "" {
				t.Errorf("FilterError (-want +got):\n%s", diff)
			}
			if sql != "" || args != nil {
				t.Errorf("an error came with SQL %q and %d args, want none", sql, len(args))
			}
		})
	}

	t.Run("first placeholder", func(t *testing.T) {
		t.Parallel()
		_, _, err := compileFilters([]Filter{ok}, 0)
		var fe *FilterError
		if err == nil || errors.As(err, &fe) {
			t.Errorf("compileFilters(firstArg 0) error = %v, want a plain (internal) error", err)
		}
	})
	t.Run("message", func(t *testing.T) {
		t.Parallel()
		_, _, err := compileFilters([]Filter{{Key: "secret-key", Op: FilterEq, Value: math.Inf(-1)}}, 1)
		if got, want := err.Error(), "filters[0].value: must be a finite number"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})
}

func TestCompileQuery(t *testing.T) {
	t.Parallel()
	const wantLike = "(search <> '' AND search LIKE $4)"
	const wantWords = "(search <> '' AND profiles_search_lexemes(search) @@ $4::tsquery AND strpos(search, $5) > 0)"
	tests := []struct {
		q        string
		wantSQL  string
		wantArgs []any
	}{
		{q: ""},
		{q: " \t\n"},
		{q: "\x00"},
		{q: " Alice@Example.COM ", wantSQL: "(lower(effective->>'email') = $4 OR lower(external_id) = $4)", wantArgs: []any{"alice@example.com"}},
		{q: "@example.com", wantSQL: wantWords, wantArgs: []any{"'^ple.com':* & 'example'", "@example.com"}},
		{q: "alice@example", wantSQL: wantWords, wantArgs: []any{"'^ice@example':*", "alice@example"}},
		{q: "  bob  ", wantSQL: wantLike, wantArgs: []any{"%bob%"}},
		{q: "alan smith", wantSQL: wantWords, wantArgs: []any{"'^lan smith':*", "alan smith"}},
		{q: "Alice Smith@example.com", wantSQL: wantWords, wantArgs: []any{"'^ice smith' & '^ith@example' & '^ple.com':* & 'example' & 'smith'", "alice smith@example.com"}},
		{q: "o'brien", wantSQL: wantLike, wantArgs: []any{"%o'brien%"}}, // one prefix of 5: trigrams
		{q: `50%_\`, wantSQL: wantLike, wantArgs: []any{`%50\%\_\\%`}},
		{q: `50%_off\`, wantSQL: wantWords, wantArgs: []any{"'off'", `50%_off\`}},
		{q: "a\x00b\xffc", wantSQL: wantLike, wantArgs: []any{"%abc%"}},
		{q: "ÉMILE", wantSQL: wantLike, wantArgs: []any{"%émile%"}},
	}
	for _, tt := range tests {
		sql, args := compileQuery(tt.q, 4)
		if sql != tt.wantSQL {
			t.Errorf("compileQuery(%q) SQL = %q, want %q", tt.q, sql, tt.wantSQL)
		}
		if diff := cmp.Diff(tt.wantArgs, args); diff != "" {
			t.Errorf("compileQuery(%q) args (-want +got):\n%s", tt.q, diff)
		}
	}
}

func TestFilterOpString(t *testing.T) {
	t.Parallel()
	var got []string
	for op := FilterOp(0); op <= FilterLte+1; op++ {
		got = append(got, op.String())
	}
	want := []string{"FilterOp(0)", "eq", "neq", "contains", "exists", "not_exists", "gt", "gte", "lt", "lte", "FilterOp(10)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FilterOp.String (-want +got):\n%s", diff)
	}
}

// --- fuzzing ---

var placeholderRE = regexp.MustCompile(`\$[0-9]+`)

// filterShapes is every condition compileFilters can produce, placeholders replaced by "$?",
// found by compiling each operator on a top-level and a nested key with each kind of value.
// Its inputs use the marker "qqz", which must appear nowhere in it.
var filterShapes = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	for op := FilterEq; op <= FilterLte; op++ {
		for _, key := range []string{"qqz", "qqz.qqz", "qqz.qqz.qqz"} {
			for _, v := range []any{nil, true, 1.5, "qqz", "2024-01-02T15:04:05Z"} {
				sql, _, err := compileFilters([]Filter{{Key: key, Op: op, Value: v}}, 1)
				if err == nil {
					seen[placeholderRE.ReplaceAllString(sql, "$?")] = true
				}
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for s := range seen {
			if !yield(s) {
				return
			}
		}
	})
})

// madeOfShapes reports whether sql is one or more shapes joined by " AND ".
func madeOfShapes(sql string, shapes []string) bool {
	for _, s := range shapes {
		rest, ok := strings.CutPrefix(sql, s)
		if !ok {
			continue
		}
		if rest == "" {
			return true
		}
		if rest, ok := strings.CutPrefix(rest, " AND "); ok && madeOfShapes(rest, shapes) {
			return true
		}
	}
	return false
}

func TestFilterShapes(t *testing.T) {
	t.Parallel()
	shapes := filterShapes()
	// eq, neq, 2 exists + 2 not exists, 2 x 2 contains, 4 comparators x 2 value kinds x 2 depths.
	if len(shapes) != 2+4+4+16 {
		t.Errorf("found %d shapes, want 26:\n%s", len(shapes), strings.Join(shapes, "\n"))
	}
	for _, s := range shapes {
		if strings.Contains(s, "qqz") {
			t.Errorf("a user string reached the SQL text: %s", s)
		}
	}
}

func FuzzCompileFilters(f *testing.F) {
	f.Add(uint8(1), uint8(1), "plan", int8(FilterEq), uint8(3), "pro", 0.0, "age", int8(FilterGt), uint8(2), "", 21.0)
	f.Add(uint8(3), uint8(2), "address.city", int8(FilterContains), uint8(3), "ar%_\\", 0.0, "a.b.c", int8(FilterNotExists), uint8(0), "", 0.0)
	f.Add(uint8(1), uint8(2), "signup", int8(FilterLte), uint8(3), "2024-01-02T15:04:05.999+02:00", 0.0, "tags", int8(FilterContains), uint8(2), "", 7.0)
	f.Add(uint8(9), uint8(1), `x'); DROP TABLE profiles; --`, int8(FilterNeq), uint8(3), `'||pg_sleep(10)||'`, 0.0, "", int8(0), uint8(0), "", 0.0)
	f.Add(uint8(1), uint8(1), "a.0.b", int8(FilterExists), uint8(1), "", 1.0, "", int8(0), uint8(0), "", 0.0)
	f.Add(uint8(0), uint8(1), "effective", int8(FilterEq), uint8(4), "", 0.0, "", int8(0), uint8(0), "", 0.0)
	f.Add(uint8(1), uint8(21), "k", int8(FilterExists), uint8(0), "", 0.0, "k2", int8(FilterNotExists), uint8(0), "", 0.0)
	f.Add(uint8(1), uint8(1), "a\x00", int8(FilterGte), uint8(3), "\xff", math.Inf(1), "", int8(0), uint8(0), "", 0.0)

	f.Fuzz(func(t *testing.T, firstArg, count uint8, key1 string, op1 int8, kind1 uint8, s1 string, n1 float64,
		key2 string, op2 int8, kind2 uint8, s2 string, n2 float64) {
		first := int(firstArg)
		specs := [2]Filter{
			{Key: key1, Op: FilterOp(op1), Value: fuzzValue(kind1, s1, n1)},
			{Key: key2, Op: FilterOp(op2), Value: fuzzValue(kind2, s2, n2)},
		}
		filters := make([]Filter, int(count)%(maxFilters+3))
		for i := range filters {
			filters[i] = specs[i%2]
		}

		sql, args, err := compileFilters(filters, first)
		if err != nil {
			if sql != "" || args != nil {
				t.Fatalf("error %v came with SQL %q and args", err, sql)
			}
			var fe *FilterError
			switch {
			case first < 1:
				if errors.As(err, &fe) {
					t.Fatalf("firstArg %d gave a FilterError: %v", first, err)
				}
			case !errors.As(err, &fe):
				t.Fatalf("error %v is not a *FilterError", err)
			case fe.Index == -1 && fe.Field != "filters",
				fe.Index >= 0 && (fe.Index >= len(filters) || !strings.HasPrefix(fe.Field, fmt.Sprintf("filters[%d].", fe.Index))):
				t.Fatalf("FilterError %+v does not name a filter of %d", *fe, len(filters))
			}
			return
		}
		if first < 1 || len(filters) > maxFilters {
			t.Fatalf("compileFilters accepted firstArg %d with %d filters", first, len(filters))
		}

		// The SQL is made of the fixed shapes and placeholders only...
		if sql == "" {
			if len(filters) != 0 || args != nil {
				t.Fatalf("%d filters gave no SQL and %d args", len(filters), len(args))
			}
		} else if !madeOfShapes(placeholderRE.ReplaceAllString(sql, "$?"), filterShapes()) {
			t.Fatalf("SQL is not made of the fixed shapes: %s", sql)
		}
		// ...so no user string longer than two bytes can be in it unless the vocabulary has it.
		vocabulary := strings.Join(filterShapes(), "\n")
		for _, s := range []string{key1, key2, s1, s2} {
			if len(s) > 2 && strings.Contains(sql, s) && !strings.Contains(vocabulary, s) {
				t.Fatalf("user string %q is in the SQL: %s", s, sql)
			}
		}

		// Placeholders are exactly $first..$first+len(args)-1, each used.
		used := map[int]bool{}
		for _, p := range placeholderRE.FindAllString(sql, -1) {
			n, _ := strconv.Atoi(p[1:])
			used[n] = true
		}
		for n := range used {
			if n < first || n >= first+len(args) {
				t.Fatalf("placeholder $%d outside $%d..$%d: %s", n, first, first+len(args)-1, sql)
			}
		}
		if len(used) != len(args) {
			t.Fatalf("%d placeholders for %d args: %s", len(used), len(args), sql)
		}

		// Eq's argument is the nested object that holds the value at the key's path.
		if len(filters) == 1 && filters[0].Op == FilterEq {
			var got any
			if err := json.Unmarshal([]byte(args[0].(string)), &got); err != nil {
				t.Fatalf("Eq argument %q is not JSON: %v", args[0], err)
			}
			for _, seg := range strings.Split(filters[0].Key, ".") {
				obj, ok := got.(map[string]any)
				if !ok || len(obj) != 1 {
					t.Fatalf("Eq argument %s does not nest the path %q", args[0], filters[0].Key)
				}
				got = obj[seg]
			}
			if got != filters[0].Value {
				t.Fatalf("Eq argument %s holds %#v, want %#v", args[0], got, filters[0].Value)
			}
		}

		// The free-text query is fixed SQL too, with the text escaped.
		qsql, qargs := compileQuery(s1, first)
		p1, p2 := "$"+strconv.Itoa(first), "$"+strconv.Itoa(first+1)
		shapes := map[string]int{ // the fixed SQL of each kind of query, and its number of args
			"": 0,
			strings.ReplaceAll(sqlQueryEmail, "{value}", p1):                        1,
			strings.Replace(sqlQuery, "{pattern}", p1, 1):                           1,
			strings.NewReplacer("{words}", p1, "{text}", p2).Replace(sqlQueryWords): 2,
		}
		if n, ok := shapes[qsql]; !ok || n != len(qargs) {
			t.Fatalf("compileQuery(%q) = %q with %d args", s1, qsql, len(qargs))
		}
	})
}

func fuzzValue(kind uint8, s string, n float64) any {
	switch kind % 6 {
	case 0:
		return nil
	case 1:
		return n > 0
	case 2:
		return n
	case 3:
		return s
	case 4:
		return int(n) // not a JSON scalar type the compiler takes
	default:
		return []any{s}
	}
}

// --- against Postgres ---

// Rows of project "p1" that TestFilterSemantics queries; the live ones are p01-p04 and p07.
var filterRows = []struct {
	id, effective, search string
	merged, deleted       bool
}{
	{id: "prof_01", search: "u1\nalice@example.com\npro", effective: `{"plan": "pro", "age": 30, "email": "ALICE@Example.com",
		"tags": ["vip", "beta"], "address": {"city": "Paris", "zip": "75001"}, "signup": "2024-03-01T10:00:00Z",
		"nickname": null, "beta": true, "note": "500 offxnow", "stats": {"visits": 12}}`},
	{id: "prof_02", search: "u2\n50% off_now\nfree", effective: `{"plan": "free", "age": "thirty", "tags": "vip",
		"address": {"city": "Berlin"}, "signup": "2023-01-01T00:00:00+01:00", "beta": false, "note": "50% off_now",
		"lucky": 7, "count": "100", "stats": {"visits": "12"}}`},
	{id: "prof_03", search: "u3", effective: `{"plan": "Pro", "age": 45, "address": [{"city": "Paris"}],
		"signup": "not a date", "tags": ["VIP"], "lucky": [7, 8], "ratio": 1.0}`},
	{id: "prof_04", search: "", effective: `{}`},
	{id: "prof_05", search: "alice", effective: `{"plan": "pro", "age": 30, "email": "alice@example.com"}`, merged: true},
	{id: "prof_06", search: "alice", effective: `{"plan": "pro", "age": 30, "email": "alice@example.com"}`, deleted: true},
	{id: "prof_07", search: "u7\nbob", effective: `{"address": "Paris", "signup": "2024-03-01", "age": 29.9,
		"nickname": "bob", "x": {"y": {"z": "deep"}}, "ratio": "1"}`},
}

func TestFilterSemantics(t *testing.T) {
	t.Parallel()
	pool := filterTestPool(t)
	ctx := context.Background()

	for _, r := range filterRows {
		_, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, version, effective, search, merged_into, deleted_at)
			VALUES ('p1', $1, 1, $2::jsonb, $3, CASE WHEN $4 THEN 'prof_01' END, CASE WHEN $5 THEN now() END)`,
			r.id, r.effective, r.search, r.merged, r.deleted)
		if err != nil {
			t.Fatalf("insert %s: %v", r.id, err)
		}
	}
	// Another project's profile that every filter below would match.
	_, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, version, effective, search)
		VALUES ('p2', 'prof_01', 1, $1::jsonb, 'alice')`, filterRows[0].effective)
	if err != nil {
		t.Fatal(err)
	}

	type F = Filter
	all := []string{"prof_01", "prof_02", "prof_03", "prof_04", "prof_07"}
	tests := []struct {
		name    string
		filters []Filter
		query   string
		want    []string
	}{
		{name: "no filters", want: all},
		{name: "eq string", filters: []F{{"plan", FilterEq, "pro"}}, want: []string{"prof_01"}},
		{name: "eq string is case-sensitive", filters: []F{{"plan", FilterEq, "PRO"}}, want: nil},
		{name: "eq number", filters: []F{{"age", FilterEq, 30.0}}, want: []string{"prof_01"}},
		{name: "eq number compares numerically", filters: []F{{"ratio", FilterEq, 1.0}}, want: []string{"prof_03"}},
		{name: "eq string never matches a number", filters: []F{{"age", FilterEq, "30"}}, want: nil},
		{name: "eq scalar never matches an array", filters: []F{{"tags", FilterEq, "vip"}}, want: []string{"prof_02"}},
		{name: "eq bool", filters: []F{{"beta", FilterEq, true}}, want: []string{"prof_01"}},
		{name: "eq null", filters: []F{{"nickname", FilterEq, nil}}, want: []string{"prof_01"}},
		{name: "eq nested", filters: []F{{"address.city", FilterEq, "Paris"}}, want: []string{"prof_01"}},
		{name: "eq deep", filters: []F{{"x.y.z", FilterEq, "deep"}}, want: []string{"prof_07"}},
		{name: "neq includes absent", filters: []F{{"plan", FilterNeq, "pro"}}, want: []string{"prof_02", "prof_03", "prof_04", "prof_07"}},
		{name: "neq null", filters: []F{{"nickname", FilterNeq, nil}}, want: []string{"prof_02", "prof_03", "prof_04", "prof_07"}},
		{name: "neq nested", filters: []F{{"address.city", FilterNeq, "Paris"}}, want: []string{"prof_02", "prof_03", "prof_04", "prof_07"}},
		{name: "contains ignores case", filters: []F{{"email", FilterContains, "alice@EX"}}, want: []string{"prof_01"}},
		{name: "contains string or array element", filters: []F{{"tags", FilterContains, "vip"}}, want: []string{"prof_01", "prof_02"}},
		{name: "contains on strings only", filters: []F{{"plan", FilterContains, "PRO"}}, want: []string{"prof_01", "prof_03"}},
		{name: "contains never reads numbers", filters: []F{{"age", FilterContains, "3"}}, want: nil},
		{name: "contains escapes wildcards", filters: []F{{"note", FilterContains, "0% off_"}}, want: []string{"prof_02"}},
		{name: "contains underscore", filters: []F{{"note", FilterContains, "_"}}, want: []string{"prof_02"}},
		{name: "contains number in array", filters: []F{{"lucky", FilterContains, 7.0}}, want: []string{"prof_03"}},
		{name: "contains nested", filters: []F{{"address.city", FilterContains, "ARI"}}, want: []string{"prof_01"}},
		{name: "exists includes null", filters: []F{{"nickname", FilterExists, nil}}, want: []string{"prof_01", "prof_07"}},
		{name: "not exists", filters: []F{{"nickname", FilterNotExists, nil}}, want: []string{"prof_02", "prof_03", "prof_04"}},
		{name: "exists top level", filters: []F{{"address", FilterExists, nil}}, want: []string{"prof_01", "prof_02", "prof_03", "prof_07"}},
		{name: "exists nested", filters: []F{{"address.city", FilterExists, nil}}, want: []string{"prof_01", "prof_02"}},
		{name: "not exists nested", filters: []F{{"address.city", FilterNotExists, nil}}, want: []string{"prof_03", "prof_04", "prof_07"}},
		{name: "paths never index arrays", filters: []F{{"address.0", FilterExists, nil}}, want: nil},
		{name: "paths never index arrays deeper", filters: []F{{"address.0.city", FilterContains, "paris"}}, want: nil},
		{name: "gt number", filters: []F{{"age", FilterGt, 29.0}}, want: []string{"prof_01", "prof_03", "prof_07"}},
		{name: "gte number", filters: []F{{"age", FilterGte, 30.0}}, want: []string{"prof_01", "prof_03"}},
		{name: "lt number", filters: []F{{"age", FilterLt, 30.0}}, want: []string{"prof_07"}},
		{name: "lte number", filters: []F{{"age", FilterLte, 30.0}}, want: []string{"prof_01", "prof_07"}},
		{name: "gt number on a numeric string", filters: []F{{"count", FilterGt, 50.0}}, want: nil},
		{name: "gt number on string traits", filters: []F{{"plan", FilterGt, -1e300}}, want: nil},
		{name: "gt number nested", filters: []F{{"stats.visits", FilterGt, 10.0}}, want: []string{"prof_01"}},
		{name: "gt time", filters: []F{{"signup", FilterGt, "2023-06-01T00:00:00Z"}}, want: []string{"prof_01"}},
		{name: "lt time", filters: []F{{"signup", FilterLt, "2023-06-01T00:00:00Z"}}, want: []string{"prof_02"}},
		{name: "gte time is by instant", filters: []F{{"signup", FilterGte, "2024-03-01T11:00:00+01:00"}}, want: []string{"prof_01"}},
		{name: "gt time equal instant", filters: []F{{"signup", FilterGt, "2024-03-01T11:00:00+01:00"}}, want: nil},
		{name: "lte time", filters: []F{{"signup", FilterLte, "2024-03-01T11:00:00+01:00"}}, want: []string{"prof_01", "prof_02"}},
		{name: "gt time on other strings", filters: []F{{"plan", FilterGt, "0001-01-01T00:00:00Z"}}, want: nil},
		{name: "gt time on numbers", filters: []F{{"age", FilterGt, "0001-01-01T00:00:00Z"}}, want: nil},
		{name: "and", filters: []F{{"plan", FilterEq, "pro"}, {"age", FilterGt, 20.0}}, want: []string{"prof_01"}},
		{name: "and nothing", filters: []F{{"plan", FilterEq, "pro"}, {"nickname", FilterNotExists, nil}}, want: nil},
		{name: "query", query: "ALICE", want: []string{"prof_01"}},
		{name: "query escapes percent", query: "0%", want: []string{"prof_02"}},
		{name: "query escapes underscore", query: "f_", want: []string{"prof_02"}},
		{name: "query and filter", query: "u", filters: []F{{"age", FilterExists, nil}}, want: []string{"prof_01", "prof_02", "prof_03", "prof_07"}},
		{name: "blank query", query: "  ", want: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := filterIDs(t, pool, "p1", tt.filters, tt.query)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("profiles matching %+v query %q (-want +got):\n%s", tt.filters, tt.query, diff)
			}
		})
	}
}

// filterIDs runs filters and query the way List does: after the project and liveness
// conditions that the partial indexes require.
func filterIDs(t *testing.T, pool *pgxpool.Pool, project string, filters []Filter, query string) []string {
	t.Helper()
	sql, args := filterSelect(t, "SELECT id", project, filters, query)
	rows, err := pool.Query(context.Background(), sql+" ORDER BY id", args...)
	if err != nil {
		t.Fatalf("query %s: %v", sql, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("query %s: %v", sql, err)
	}
	return ids
}

func filterSelect(t *testing.T, selectList, project string, filters []Filter, query string) (string, []any) {
	t.Helper()
	sql := selectList + ` FROM profiles WHERE project_id = $1 AND merged_into IS NULL AND deleted_at IS NULL`
	args := []any{project}
	where, fargs, err := compileFilters(filters, 2)
	if err != nil {
		t.Fatalf("compileFilters: %v", err)
	}
	if where != "" {
		sql += " AND " + where
		args = append(args, fargs...)
	}
	if q, qargs := compileQuery(query, len(args)+1); q != "" {
		sql += " AND " + q
		args = append(args, qargs...)
	}
	return sql, args
}

func TestFilterPlansUseIndexes(t *testing.T) {
	t.Parallel()
	pool := filterTestPool(t)
	ctx := context.Background()

	// 20,000 live profiles of one project: one in a hundred is on the rare plan, one in a
	// thousand has a "vip" trait or a nested billing.card, and every one has an email and a
	// search line. 20,000 anonymous ones beside them have neither, and no index holds them.
	_, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, version, effective, search)
		SELECT 'bulk', 'prof_' || lpad(i::text, 8, '0'), 1,
			jsonb_build_object('plan', CASE WHEN i % 100 = 0 THEN 'rare' ELSE 'common' END, 'n', i, 'email', 'u' || i || '@example.com')
				|| CASE WHEN i % 1000 = 0 THEN '{"vip": true, "billing": {"card": "visa"}}'::jsonb ELSE '{}' END,
			'user' || i || E'\n' || md5(i::text)
		FROM generate_series(1, 20000) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, version)
		SELECT 'bulk', 'prof_anon_' || lpad(i::text, 8, '0'), 1 FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	// VACUUM also moves the new rows out of the GIN indexes' pending lists, which the
	// planner otherwise costs as a scan of every new entry.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE profiles`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		filters   []Filter
		query     string
		wantIndex string
		wantRows  int
	}{
		{"eq", []Filter{{Key: "plan", Op: FilterEq, Value: "rare"}}, "", "profiles_effective", 200},
		{"exists", []Filter{{Key: "vip", Op: FilterExists}}, "", "profiles_effective", 20},
		{"exists nested", []Filter{{Key: "billing.card", Op: FilterExists}}, "", "profiles_effective", 20},
		{"query", nil, "USER1234", "profiles_search", 11},                      // user1234 and user12340-user12349
		{"query substring", nil, "c4ca4238", "profiles_search", 1},             // md5('1')
		{"query words", nil, "user1234\n81dc9bdb", "profiles_search_words", 1}, // md5('1234')
		{"query email", nil, "U1234@Example.com", "profiles_email", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := len(filterIDs(t, pool, "bulk", tt.filters, tt.query)); got != tt.wantRows {
				t.Errorf("%d rows, want %d", got, tt.wantRows)
			}
			sql, args := filterSelect(t, "EXPLAIN SELECT id", "bulk", tt.filters, tt.query)
			rows, err := pool.Query(ctx, sql, args...)
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, tt.wantIndex) {
				t.Errorf("plan does not use %s:\n%s", tt.wantIndex, text)
			}
			t.Logf("plan:\n%s", text)
		})
	}
}

// filterTestPool returns a pool on a fresh migrated database. These tests sit inside package
// postgres to reach the unexported compiler, so they cannot import db/pgtest (which imports
// this package); this is pgtest.New without its template cache.
func filterTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := os.Getenv("PROFILES_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/profiles?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse PROFILES_DATABASE_URL: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "profiles_test_filter_" + hex.EncodeToString(b)
	u.Path = "/" + name
	if err := EnsureDatabase(ctx, u.String()); err != nil {
		t.Fatalf("cannot create a test database at %s (run scripts/setup.sh): %v", Redact(base), err)
	}
	t.Cleanup(func() {
		admin := *u
		admin.Path = "/postgres"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	pool, err := Open(ctx, u.String(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return pool
}
