package clickhouse

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only comments", "-- a;\n/* b; */\n  ;\n", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon on its own line", "SELECT 1\n;\nSELECT 2\n;", []string{"SELECT 1", "SELECT 2"}},
		{"in string", "SELECT 'a;b';SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"backslash-escaped quote", `SELECT 'it\'s;';SELECT 2`, []string{`SELECT 'it\'s;'`, "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s;';SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"escaped backslash ends literal", `SELECT '\\';SELECT 2`, []string{`SELECT '\\'`, "SELECT 2"}},
		{"identifiers", "SELECT 1 AS `a;b`, 2 AS \"c;d\";SELECT 2", []string{"SELECT 1 AS `a;b`, 2 AS \"c;d\"", "SELECT 2"}},
		{"line comment", "SELECT 1 -- why; because\n, 2;SELECT 3", []string{"SELECT 1 -- why; because\n, 2", "SELECT 3"}},
		{"block comment", "SELECT /* a; 'b */ 1;SELECT 2", []string{"SELECT /* a; 'b */ 1", "SELECT 2"}},
		{"leading comment kept with its statement", "-- first\nSELECT 1;\n-- second\nSELECT 2;\n-- trailing\n", []string{"-- first\nSELECT 1", "-- second\nSELECT 2"}},
		{"minus is not a comment", "SELECT 2-1;SELECT 3", []string{"SELECT 2-1", "SELECT 3"}},
		{"unterminated string swallows the rest", "SELECT 'a;b", []string{"SELECT 'a;b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, splitStatements(tt.in)); diff != "" {
				t.Errorf("splitStatements(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// FuzzSplitStatements checks that splitting is stable: a statement it returns is returned
// whole when split again, and never empty.
func FuzzSplitStatements(f *testing.F) {
	for _, seed := range []string{"SELECT 1;SELECT 2", "SELECT 'a;b';", "-- x;\nSELECT `;`", "/* ; */;", `'\';'`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, stmt := range splitStatements(in) {
			if stmt == "" {
				t.Fatalf("splitStatements(%q) returned an empty statement", in)
			}
			if again := splitStatements(stmt); len(again) != 1 || again[0] != stmt {
				t.Fatalf("splitStatements(%q) returned %q, which splits again into %q", in, stmt, again)
			}
		}
	})
}
