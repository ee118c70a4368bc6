package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
)

func TestWordQuery(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxRun+10)
	tests := []struct{ q, want string }{
		{"jorberg", ""},                       // the whole query: any part of a word
		{"elias jorberg", "'^ias jorberg':*"}, // the end of one run, a separator, the start of the next
		{"dmitri ivanov petrov", "'^nov petrov':* & '^tri ivanov' & 'ivanov'"},
		{"ella whit", "'^lla whit':*"},                            // less of the second run than a pair keeps: the pairs that start so
		{"mary ann smith", "'^ann smith':* & '^ary ann' & 'ann'"}, // a whole run pairs as it is
		{"ella\nwhitney", "'whitney':* & ('ella' | '~alle':*)"},   // a line break ends a value: no pair
		{"ella  whitney", "'whitney':* & ('ella' | '~alle':*)"},   // nor two separators
		{"ross'neill", "'^oss''neill':*"},
		{"a b", ""},    // starts and ends too short to scan for
		{"ab-cd", ""},  // the same
		{"x de y", ""}, // a whole word under minAffix: one such condition is not enough alone
		{"x den y", "'den'"},
		{"x-ab-ab-y", ""},                                   // one short whole run, however often: too little alone
		{"user-5", ""},                                      // one end of a word: the trigram index does better
		{"user5 smith", "'smith':* & ('user' | '~resu':*)"}, // digits separate runs
		{"apt 4b main", "'b' & 'main':* & ('apt' | '~tpa':*)"},
		{"12 34", ""},              // numbers are the trigram index's
		{"-jorberg-", "'jorberg'"}, // separators on both sides
		{"über straße", "'^ber straße':*"},
		{"a.b.c.d", "'b' & 'c'"},
		{"it's here", "'here':* & 's'"}, // "it" too short to scan for
		{"x " + long + " y", "'" + strings.Repeat("é", maxRun) + "'"},
		{"abc abc abc", "'^abc abc' & '^abc abc':* & 'abc'"},
		{"olu wesfieldini", "'^olu wesfield'"}, // a first word of pairEnd
	}
	for _, tt := range tests {
		if got := wordQuery(tt.q); got != tt.want {
			t.Errorf("wordQuery(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestWordSearchFindsEverySubstring checks the promise the word index rests on, in
// PostgreSQL itself: whatever the text, a query finds exactly the profiles whose search text
// contains it, whether the word index or the trigram index serves it.
func TestWordSearchFindsEverySubstring(t *testing.T) {
	t.Parallel()
	pool := filterTestPool(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "b", "e", "li", "as", "jor", "berg", "7", "42", "é", "ß", "中", "x", "\x7f", "\u2028", "\u0085"} // lower-case, as SearchText writes
	seps := []string{" ", " ", "\n", "\t", "-", ".", "@", "'", "_", "%", `\`, ":", "  "}
	text := func() string {
		var b strings.Builder
		for range 2 + rng.IntN(12) {
			if rng.IntN(10) == 0 {
				b.WriteString(strings.Repeat(pieces[rng.IntN(len(pieces))], maxRun+rng.IntN(20))) // a run cut by the index
			}
			for range 1 + rng.IntN(3) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		return b.String()
	}
	texts := make([]string, 400)
	for i := range texts {
		texts[i] = text()
	}
	if _, err := pool.Exec(ctx, `INSERT INTO profiles (project_id, id, version, search)
		SELECT 'words', 'prof_' || lpad(i::text, 4, '0'), 1, t FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i)`, texts); err != nil {
		t.Fatal(err)
	}

	viaWords, viaPairs := 0, 0
	for range 800 {
		from := []rune(texts[rng.IntN(len(texts))])
		start := rng.IntN(len(from))
		n := 1 + rng.IntN(30)
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(2*maxRun) // across a long run, and past where the index cuts it
		}
		q := strings.TrimSpace(string(from[start:min(len(from), start+n)]))
		if q == "" || emailShape.MatchString(q) {
			continue
		}
		if wq := wordQuery(q); wq != "" {
			viaWords++
			if strings.Contains(wq, "'"+pairMark) {
				viaPairs++
			}
		}
		var want []string
		for i, s := range texts {
			if strings.Contains(s, q) {
				want = append(want, fmt.Sprintf("prof_%04d", i+1))
			}
		}
		if diff := cmp.Diff(want, filterIDs(t, pool, "words", nil, q), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("query %q, word query %q (-want +got):\n%s", q, wordQuery(q), diff)
		}
	}
	if viaWords < 200 || viaPairs < 40 {
		t.Errorf("only %d of 800 queries took the word index, %d of them by pairs; the test says little", viaWords, viaPairs)
	}
}

// TestSearchRunsMatchTheModel: the migration's function and the model of it that the fuzz
// target trusts keep the same lexemes for any text: every ASCII character and a spread of
// others, runs across the 254-character cut.
func TestSearchRunsMatchTheModel(t *testing.T) {
	t.Parallel()
	pool := filterTestPool(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var alphabet []rune
	for r := rune(1); r < 0x80; r++ {
		alphabet = append(alphabet, r)
	}
	alphabet = append(alphabet, 'é', 'ß', 'K', 'İ', 'σ', 'ς', '\u0301', '\u00a0', '\u0085', '\u2028', '\ufeff',
		'\ufffd', '\u200b', '\u07ff', '\u0800', '\uffff', '\U00010000', '\U0010ffff', '😀', '中')
	texts := make([]string, 300)
	for i := range texts {
		var b []rune
		for range rng.IntN(60) {
			if rng.IntN(30) == 0 {
				for range maxRun - 3 + rng.IntN(8) {
					b = append(b, 'x')
				}
			}
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		texts[i] = string(b)
	}
	rows, err := pool.Query(context.Background(), `SELECT tsvector_to_array(profiles_search_lexemes(t)) FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i`, texts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		var want []string
		for l := range indexedLexemes(text) {
			want = append(want, l)
		}
		slices.Sort(want)
		slices.Sort(got[i])
		if diff := cmp.Diff(want, got[i], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("lexemes of %q (-model +postgres):\n%s", text, diff)
		}
	}
}

// FuzzWordQueryHoldsForTheText checks wordQuery against a model of the index function: for
// any text and any substring of it, every condition of the substring's word query holds for
// the lexemes the index keeps of the text. TestWordSearchFindsEverySubstring checks the model
// against PostgreSQL.
func FuzzWordQueryHoldsForTheText(f *testing.F) {
	f.Add("Elias Jorberg\nelias@example.com", uint16(2), uint16(9))
	f.Add("über-straße 12 中文 o'brien", uint16(1), uint16(20))
	f.Add("abc_def ghi_jkl", uint16(2), uint16(9))                          // "c_def ghi": '_' separates
	f.Add("ross'neill o\\brien-smith\nella whitney", uint16(1), uint16(40)) // pairs across a quote, a backslash and a hyphen
	f.Add(strings.Repeat("x", 300)+" y "+strings.Repeat("é", 300), uint16(250), uint16(400))
	f.Fuzz(func(t *testing.T, s string, from, n uint16) {
		text := []rune(strings.ToLower(strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")))
		i := int(from) % (len(text) + 1)
		q := strings.TrimSpace(string(text[i:min(len(text), i+int(n))]))
		if q == "" || strings.ToLower(q) != q {
			return
		}
		tq := wordQuery(q)
		if tq == "" {
			return
		}
		kept := indexedLexemes(string(text))
		holds := func(cond string) bool {
			prefix := strings.HasSuffix(cond, ":*")
			lex := unquoteLexeme(strings.TrimSuffix(cond, ":*"))
			for k := range kept {
				if k == lex || prefix && strings.HasPrefix(k, lex) {
					return true
				}
			}
			return false
		}
		for _, cond := range strings.Split(tq, " & ") {
			alts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(cond, "("), ")"), " | ")
			if !slices.ContainsFunc(alts, holds) {
				t.Fatalf("text %q holds %q, but no lexeme of it meets %s (word query %s)", string(text), q, cond, tq)
			}
		}
	})
}

// indexedLexemes models profiles_search_lexemes (migrations/0013_longer_pairs.sql) on its own, so
// that a slip in words.go does not slip into the model too.
func indexedLexemes(text string) map[string]bool {
	sep := func(r rune) bool { return r < 0x80 && !('a' <= r && r <= 'z') }
	first := func(r []rune, n int) string { return string(r[:min(len(r), n)]) }
	kept := map[string]bool{}
	var runs, seps [][]rune // seps[i] lies before runs[i]
	var between []rune
	for _, r := range []rune(text) {
		switch {
		case sep(r):
			between = append(between, r)
		case len(between) == 0 && len(runs) > 0:
			runs[len(runs)-1] = append(runs[len(runs)-1], r)
		default:
			runs, seps, between = append(runs, []rune{r}), append(seps, between), nil
		}
	}
	for i, r := range runs {
		kept[first(r, 254)] = true
		if len(r) > 3 {
			tail := slices.Clone(r[1:])
			slices.Reverse(tail)
			kept["~"+first(tail, 254)] = true
		}
		if i > 0 && len(seps[i]) == 1 && seps[i][0] != '\n' && len(runs[i-1]) >= 3 && len(r) >= 3 {
			a := runs[i-1]
			kept["^"+string(a[len(a)-3:])+string(seps[i])+first(r, 8)] = true
		}
	}
	return kept
}

// unquoteLexeme reads a lexeme as tsquery's input syntax quotes it.
func unquoteLexeme(q string) string {
	q = strings.TrimSuffix(strings.TrimPrefix(q, "'"), "'")
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' || q[i] == '\'' { // an escaped character, or the first of ''
			i++
		}
		if i < len(q) {
			b.WriteByte(q[i])
		}
	}
	return b.String()
}
