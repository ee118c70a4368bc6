package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file is STYLE rule 7's one exception: List's trait filters and free-text query are the
// only SQL built at run time. Every byte of SQL text comes from the constants below plus "$n"
// placeholders; keys, paths and values travel only as arguments. FuzzCompileFilters checks
// that the text is always made of these fragments and that the placeholders match the args.
//
// Semantics ("path" is the key split on '.', so "address.city" looks into nested objects; a path
// walks objects only, never into arrays, whatever the operator):
//
//	op         value            a profile matches when the trait at path ...        SQL (index)
//	---------  ---------------  --------------------------------------------------  -----------------------------------
//	Eq         string, number,  is that JSON value: strings exactly, numbers        effective @> '{"a":{"b":v}}'
//	           bool, null       numerically (1 = 1.0), null only null; an array     (GIN profiles_effective)
//	                            never equals a scalar
//	Neq        as Eq            is absent or holds another value (NOT Eq)           NOT (effective @> ...)
//	Contains   string           is a string containing the value ignoring case,     lower(effective #>> path)
//	                            or an array with the value as an element (elements    LIKE lower('%v%'),
//	                            compare exactly)                                      effective #> path @> '"v"'
//	Contains   number, bool,    is an array with the value as an element            effective #> path @> 'v'
//	           null
//	Exists     none (nil)       is present, whatever its value, null included       top level: effective ? key (GIN);
//	                                                                                nested: effective @> '{"a":{}}'
//	                                                                                (GIN) AND effective #> path
//	                                                                                IS NOT NULL
//	NotExists  none (nil)       is absent (NOT Exists)                              NOT (...)
//	Gt Gte     number           is a JSON number and compares so; any other type    (effective #>> path)::numeric > v
//	Lt Lte                      (a numeric string too) never matches
//	Gt Gte     RFC 3339 string  is a string in RFC 3339 date-time form with an      profiles_try_timestamptz(
//	Lt Lte     (RFC3339Nano)    offset, compared as an instant; other strings         effective #>> path) > v
//	                            (a date alone, no offset, free text) and other
//	                            types never match
//
// Contains, the comparisons and nested Exists also require effective @> '{"a":{}}' for a
// nested path "a.b", which keeps #> from indexing arrays and lets the GIN index narrow rows.
// Conditions never evaluate to NULL, so they stay correct under NOT. Invalid filters
// (FilterError) never reach SQL. TestFilterSemantics pins every row against Postgres.

// FilterOp is the comparison one List filter applies to a trait. The zero value is invalid.
type FilterOp int

// The filter operators; see the table at the top of filter.go.
const (
	FilterEq FilterOp = iota + 1
	FilterNeq
	FilterContains
	FilterExists
	FilterNotExists
	FilterGt
	FilterGte
	FilterLt
	FilterLte
)

var filterOpNames = [...]string{
	FilterEq:        "eq",
	FilterNeq:       "neq",
	FilterContains:  "contains",
	FilterExists:    "exists",
	FilterNotExists: "not_exists",
	FilterGt:        "gt",
	FilterGte:       "gte",
	FilterLt:        "lt",
	FilterLte:       "lte",
}

func (op FilterOp) String() string {
	if op >= FilterEq && op <= FilterLte {
		return filterOpNames[op]
	}
	return "FilterOp(" + strconv.Itoa(int(op)) + ")"
}

// Filter is one structured trait filter of List; filters combine with AND.
type Filter struct {
	// Key names a trait; '.' separates the keys of nested objects ("address.city"). Trait keys
	// never contain '.' or '$' (identity refuses them), so the split is unambiguous.
	Key string
	Op  FilterOp
	// Value is a JSON scalar: nil, bool, float64 or string. Exists and NotExists take nil.
	Value any
}

// FilterError is an invalid filter: the transport answers it as invalid_argument. Reason
// never repeats the key or value, so the error can be logged.
type FilterError struct {
	Index  int    // position in the filter list; -1 when the list as a whole is refused
	Field  string // "filters[2].value", or "filters" for the list as a whole
	Reason string
}

func (e *FilterError) Error() string { return e.Field + ": " + e.Reason }

// Filter limits. Keys and values follow identity.DefaultLimits: a longer key or value cannot
// match any stored trait.
const (
	maxFilters          = 20
	maxFilterKeyBytes   = 128
	maxFilterPathDepth  = 10 // segments in one dotted key
	maxFilterValueBytes = 8 << 10
)

// The fixed SQL vocabulary. {path} is a text[] argument, {key} text, {value}, {elem} and
// {skeleton} jsonb built with encoding/json, {pattern} a LIKE pattern, {cmp} one of
// filterComparators. Nothing else is ever substituted.
const (
	sqlEq             = `effective @> {value}::jsonb`
	sqlNeq            = `NOT (effective @> {value}::jsonb)`
	sqlExistsTop      = `effective ? {key}::text`
	sqlNotExistsTop   = `NOT (effective ? {key}::text)`
	sqlExistsNested   = `effective @> {skeleton}::jsonb AND effective #> {path}::text[] IS NOT NULL`
	sqlNotExistsNest  = `NOT (effective @> {skeleton}::jsonb AND effective #> {path}::text[] IS NOT NULL)`
	sqlNestedGuard    = `effective @> {skeleton}::jsonb AND `
	sqlContainsString = `CASE jsonb_typeof(effective #> {path}::text[])` +
		` WHEN 'string' THEN lower(effective #>> {path}::text[]) LIKE lower({pattern}::text)` +
		` WHEN 'array' THEN effective #> {path}::text[] @> {elem}::jsonb ELSE false END`
	sqlContainsElem = `CASE jsonb_typeof(effective #> {path}::text[])` +
		` WHEN 'array' THEN effective #> {path}::text[] @> {elem}::jsonb ELSE false END`
	sqlCompareNumber = `CASE jsonb_typeof(effective #> {path}::text[])` +
		` WHEN 'number' THEN (effective #>> {path}::text[])::numeric {cmp} {value}::numeric ELSE false END`
	// The shape check keeps Postgres' liberal timestamptz input ("today", "epoch", dates
	// without an offset, read in the session's time zone) out of comparisons, and spares the
	// subtransaction of profiles_try_timestamptz's EXCEPTION block for text that is no time.
	sqlCompareTime = `CASE WHEN jsonb_typeof(effective #> {path}::text[]) = 'string'` +
		` AND effective #>> {path}::text[] ~ '` + rfc3339Shape + `'` +
		` THEN coalesce(profiles_try_timestamptz(effective #>> {path}::text[]) {cmp} {value}::timestamptz, false)` +
		` ELSE false END`
	rfc3339Shape = `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

	// search <> '' is the search indexes' own condition (migrations 0010, 0011): a query
	// finds no profile without text, so the indexes leave those out.
	sqlQuery = `(search <> '' AND search LIKE {pattern})`
	// The word index narrows; strpos, which no index serves, says whether the text holds q.
	sqlQueryWords = `(search <> '' AND profiles_search_lexemes(search) @@ {words}::tsquery AND strpos(search, {text}) > 0)`
	// An email address is looked up whole (migrations/0006_exact_search.sql says why).
	sqlQueryEmail = `(lower(effective->>'email') = {value} OR lower(external_id) = {value})`
)

// emailShape is a whole email address: something@domain.tld, without spaces.
var emailShape = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@.]+$`)

var filterComparators = map[FilterOp]string{FilterGt: ">", FilterGte: ">=", FilterLt: "<", FilterLte: "<="}

// likeEscaper escapes LIKE's wildcards and its default escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// compileFilters renders filters as one SQL condition, each filter parenthesised and joined
// with AND, for the caller to AND into its WHERE clause after the project and liveness
// conditions (the GIN index is partial on "merged_into IS NULL AND deleted_at IS NULL", so the
// query must say so too). Placeholders start at $firstArg; args holds their values in order.
// No filters give "" and no args. An invalid filter gives a *FilterError.
func compileFilters(filters []Filter, firstArg int) (sql string, args []any, err error) {
	if firstArg < 1 {
		return "", nil, fmt.Errorf("compile filters: first placeholder $%d, want $1 or later", firstArg)
	}
	if len(filters) > maxFilters {
		return "", nil, &FilterError{Index: -1, Field: "filters", Reason: fmt.Sprintf("at most %d filters", maxFilters)}
	}
	c := filterCompiler{next: firstArg}
	conds := make([]string, 0, len(filters))
	for i, f := range filters {
		cond, err := c.compile(i, f)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, "("+cond+")")
	}
	return strings.Join(conds, " AND "), c.args, nil
}

// compileQuery renders List's free-text query, case-insensitive:
//   - a whole email address matches profiles whose email trait or external id is that address;
//   - anything else is a substring of the search column (external id and scalar trait values,
//     lower-cased by SearchText), which the word index narrows when q holds words it can pin
//     (words.go), and the trigram index serves otherwise.
//
// Surrounding space is ignored; NUL and invalid UTF-8, which Postgres text cannot carry, are
// dropped. An empty query gives "" and no args. Bounding q's length is the caller's.
func compileQuery(q string, firstArg int) (sql string, args []any) {
	q = strings.ToValidUTF8(strings.ReplaceAll(q, "\x00", ""), "")
	q = strings.TrimSpace(strings.ToLower(q))
	switch {
	case q == "":
		return "", nil
	case emailShape.MatchString(q):
		return strings.ReplaceAll(sqlQueryEmail, "{value}", "$"+strconv.Itoa(firstArg)), []any{q}
	}
	if words := wordQuery(q); words != "" {
		return strings.NewReplacer("{words}", "$"+strconv.Itoa(firstArg), "{text}", "$"+strconv.Itoa(firstArg+1)).Replace(sqlQueryWords),
			[]any{words, q}
	}
	return strings.Replace(sqlQuery, "{pattern}", "$"+strconv.Itoa(firstArg), 1),
		[]any{"%" + likeEscaper.Replace(q) + "%"}
}

type filterCompiler struct {
	next int
	args []any
}

// arg adds one argument and returns its placeholder.
func (c *filterCompiler) arg(v any) string {
	c.args = append(c.args, v)
	p := "$" + strconv.Itoa(c.next)
	c.next++
	return p
}

func (c *filterCompiler) compile(i int, f Filter) (string, error) {
	fail := func(field, reason string) error {
		return &FilterError{Index: i, Field: fmt.Sprintf("filters[%d].%s", i, field), Reason: reason}
	}
	path, reason := splitFilterKey(f.Key)
	if reason != "" {
		return "", fail("key", reason)
	}
	if f.Op < FilterEq || f.Op > FilterLte {
		return "", fail("op", "unknown operator")
	}
	if reason := checkFilterValue(f.Value); reason != "" {
		return "", fail("value", reason)
	}
	nested := len(path) > 1
	// guard prefixes a condition that reads the path with #> or #>>, so that every segment but
	// the last must name an object: a numeric segment never indexes into an array (#> would),
	// which keeps these operators consistent with Eq's containment. It is GIN-indexable too.
	guard := func(sql string) string {
		if !nested {
			return sql
		}
		return strings.Replace(sqlNestedGuard, "{skeleton}", c.arg(jsonText(nestedObject(path[:len(path)-1], map[string]any{}))), 1) + sql
	}

	switch f.Op {
	case FilterEq, FilterNeq:
		tmpl := sqlEq
		if f.Op == FilterNeq {
			tmpl = sqlNeq
		}
		return strings.Replace(tmpl, "{value}", c.arg(jsonText(nestedObject(path, f.Value))), 1), nil

	case FilterExists, FilterNotExists:
		if f.Value != nil {
			return "", fail("value", "must be empty for "+f.Op.String())
		}
		exists := f.Op == FilterExists
		if !nested {
			tmpl := sqlNotExistsTop
			if exists {
				tmpl = sqlExistsTop
			}
			return strings.Replace(tmpl, "{key}", c.arg(path[0]), 1), nil
		}
		tmpl := sqlNotExistsNest
		if exists {
			tmpl = sqlExistsNested
		}
		skeleton := c.arg(jsonText(nestedObject(path[:len(path)-1], map[string]any{})))
		return strings.NewReplacer("{skeleton}", skeleton, "{path}", c.arg(path)).Replace(tmpl), nil

	case FilterContains:
		// Placeholders are taken in a fixed order (guard, path, pattern, elem) so that the
		// numbering is the same for every filter of a shape.
		if s, ok := f.Value.(string); ok {
			sql := guard(sqlContainsString)
			return strings.NewReplacer(
				"{path}", c.arg(path),
				"{pattern}", c.arg("%"+likeEscaper.Replace(s)+"%"),
				"{elem}", c.arg(jsonText(s)),
			).Replace(sql), nil
		}
		sql := guard(sqlContainsElem)
		return strings.NewReplacer("{path}", c.arg(path), "{elem}", c.arg(jsonText(f.Value))).Replace(sql), nil

	default: // FilterGt, FilterGte, FilterLt, FilterLte
		var tmpl string
		var value any
		switch v := f.Value.(type) {
		case float64:
			tmpl, value = sqlCompareNumber, v
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return "", fail("value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for "+f.Op.String())
			}
			// Postgres keeps microseconds and rounds the trait's text to them; do the same.
			tmpl, value = sqlCompareTime, t.Round(time.Microsecond)
		default:
			return "", fail("value", "must be a number or an RFC 3339 time such as 2024-01-02T15:04:05Z for "+f.Op.String())
		}
		sql := guard(tmpl)
		return strings.NewReplacer(
			"{path}", c.arg(path),
			"{cmp}", filterComparators[f.Op],
			"{value}", c.arg(value),
		).Replace(sql), nil
	}
}

// splitFilterKey splits a dotted key into its path, or says why it cannot name a trait. Each
// segment follows identity's rules for trait keys.
func splitFilterKey(key string) (path []string, reason string) {
	switch {
	case key == "":
		return nil, "must not be empty"
	case len(key) > maxFilterKeyBytes:
		return nil, fmt.Sprintf("must be at most %d bytes", maxFilterKeyBytes)
	case !utf8.ValidString(key):
		return nil, "must be valid UTF-8"
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		return nil, "must not contain control characters"
	case strings.Contains(key, "$"):
		return nil, "must not contain '$'"
	}
	path = strings.Split(key, ".")
	if len(path) > maxFilterPathDepth {
		return nil, fmt.Sprintf("must have at most %d '.'-separated parts", maxFilterPathDepth)
	}
	for _, seg := range path {
		if strings.TrimSpace(seg) == "" {
			return nil, "must not have an empty or blank part between '.'s"
		}
	}
	return path, ""
}

// checkFilterValue says why v is not a JSON scalar that jsonb and text can carry, or "".
func checkFilterValue(v any) string {
	switch v := v.(type) {
	case nil, bool:
		return ""
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "must be a finite number"
		}
		return ""
	case string:
		switch {
		case len(v) > maxFilterValueBytes:
			return fmt.Sprintf("must be at most %d bytes", maxFilterValueBytes)
		case !utf8.ValidString(v):
			return "must be valid UTF-8"
		case strings.IndexByte(v, 0) >= 0:
			return "must not contain NUL characters"
		}
		return ""
	default:
		return "must be a string, number, boolean or null"
	}
}

// nestedObject wraps leaf in one object per path segment: ["a","b"], 1 -> {"a":{"b":1}}.
func nestedObject(path []string, leaf any) map[string]any {
	obj := map[string]any{path[len(path)-1]: leaf}
	for i := len(path) - 2; i >= 0; i-- {
		obj = map[string]any{path[i]: obj}
	}
	return obj
}

// jsonText encodes a value checkFilterValue accepted (or objects of them), which cannot fail.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("postgres: encode filter value: " + err.Error())
	}
	return string(b)
}
