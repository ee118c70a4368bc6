package postgres

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// The word index (migrations/0013_longer_pairs.sql) holds the runs of the search column: the
// longest stretches of ASCII letters and non-ASCII characters, split at every other ASCII
// character (digits too), each cut to maxRun characters; and the tail of each run longer than
// minAffix, that is the run less its first character, reversed, cut, and marked with tailMark.
// Digits split runs so that ids and addresses ("user93899", "u1.2@example.com") add common
// words to the index rather than a million distinct ones, which a prefix ("user:*") would all
// visit; numbers are left to the trigram index. It narrows a query the trigram index serves
// slowly: a full name's trigrams ("ber", "eli", " jo") sit in tens of thousands of profiles
// each, so "elias jorberg" reads some 300 index pages, where its runs read a dozen.
//
// A query is a substring of the search text, so every run of the query that a separator
// bounds inside the query is bounded the same way in the text: a run with separators on both
// sides is a whole run of the text, a run that ends the query starts one, and a run that
// begins the query ends one: it is a whole run, or the end of a longer one, whose tail starts
// with the query run reversed. The run that is the whole query proves nothing, and stays with
// the trigram index.
//
// Why tails and not every run reversed: GIN gathers all profiles of a prefix condition before
// it intersects anything, so 'saile':* (every "elias") cost as much as the first name is
// common, while the exact 'elias' of ('elias' | '~saile':*) is skipped through beside the
// rarer conditions, and the tails that start with "saile" are few.
//
// And pairs: where two runs of three characters or more meet at one separator other than a
// line break, the last three characters of the first, the separator and the first eight of the
// second, marked with pairMark ("^ias jorberg" of "elias jorberg"). A full name is then one
// entry that few profiles share (1,000 names sampled from a million profiles matched 4,024 in
// all), where its first and last runs were prefixes that GIN gathered whole: ('ella' |
// '~alle':*) & 'whit':* gathered 28,000 and 17,000 profiles to find 449. Eight, not five:
// "^lie brook" was the entry of 280 profiles, as hundreds of last names start so.
const (
	maxRun = 254 // characters kept of a run; PostgreSQL's regular expressions count to 255
	// minAffix is the shortest start or end of a run worth a prefix scan: shorter ones
	// ("a:*") read a large part of the index.
	minAffix = 3
	// tailMark starts the tail lexemes; a separator, so no whole run starts with it.
	tailMark = "~"
	// pairMark starts the pair lexemes, another separator; pairEnd and pairStart are how much
	// of the two runs a pair keeps (pairLexeme).
	pairMark  = "^"
	pairEnd   = 3
	pairStart = 8
)

// isRunRune reports whether r belongs to a run: the migration's separator class is every
// other ASCII character.
func isRunRune(r rune) bool {
	return r >= utf8.RuneSelf || 'a' <= r && r <= 'z'
}

// wordQuery returns the tsquery that the word index answers for q (lower-cased, as the
// search column is), or "" when q's runs pin too little: fewer than two conditions and no
// whole run or pair, where the trigram index does better. Every profile whose search text
// contains q matches the tsquery; the caller still checks the substring.
//
// Where two runs of q meet at one separator, the query is the pairs and the whole runs: exact
// entries, or prefixes of pairs that few entries share (pairOf); the first and last runs'
// prefix conditions are left out, as GIN would gather every profile of each before it
// intersects anything.
func wordQuery(q string) string {
	var whole, ends, pairs []string // conditions on whole runs, on the query's end runs, on pairs
	long := false                   // a whole run of minAffix or more
	var prev queryRun
	for _, r := range queryRuns(q) {
		n := utf8.RuneCountInString(r.text)
		switch {
		case r.left && r.right:
			whole = append(whole, lexeme(cut(r.text), false))
			long = long || n >= minAffix
		case r.left && n >= minAffix: // starts a run of the text
			ends = append(ends, lexeme(cut(r.text), true))
		case r.right && n >= minAffix: // ends one: is one, or a tail starts with it
			ends = append(ends, "("+lexeme(cut(r.text), false)+" | "+lexeme(tailMark+cut(reverse(r.text)), true)+")")
		}
		if p, ok := pairOf(prev, r); ok {
			pairs = append(pairs, p)
		}
		prev = r
	}
	conds := append(whole, pairs...)
	if len(pairs) == 0 {
		conds = append(conds, ends...)
	}
	slices.Sort(conds)
	conds = slices.Compact(conds)
	if len(pairs) == 0 && len(conds) < 2 && !long {
		return ""
	}
	return strings.Join(conds, " & ")
}

// queryRun is a run of a query: left and right say whether a separator bounds it there
// within the query (so the text's run begins or ends there too); sep is what separates it
// from the run before.
type queryRun struct {
	text, sep   string
	left, right bool
}

func queryRuns(q string) []queryRun {
	var runs []queryRun
	last := 0 // where the run before ended
	for start := 0; start < len(q); {
		r, size := utf8.DecodeRuneInString(q[start:])
		if !isRunRune(r) {
			start += size
			continue
		}
		end := start + size
		for end < len(q) {
			r, size := utf8.DecodeRuneInString(q[end:])
			if !isRunRune(r) {
				break
			}
			end += size
		}
		runs = append(runs, queryRun{text: q[start:end], sep: q[last:start], left: start > 0, right: end < len(q)})
		last, start = end, end
	}
	return runs
}

// pairOf is the condition on the pair entry of run b and the run a before it (pairLexeme),
// when the query pins one: a single separator between them (a line break ends a trait value,
// so it makes no pair) and the end of a. A b that is whole, or as long as the entry keeps,
// names the entry; a shorter start of a longer run is a prefix of it, which only the pairs
// of that end and that start share.
func pairOf(a, b queryRun) (string, bool) {
	if a.text == "" || len(b.sep) != 1 || b.sep == "\n" {
		return "", false
	}
	na, nb := utf8.RuneCountInString(a.text), utf8.RuneCountInString(b.text)
	if na < pairEnd || nb < pairEnd {
		return "", false
	}
	return lexeme(pairLexeme(a.text, b.sep, b.text), !b.right && nb < pairStart), true
}

// pairLexeme is the index's entry for runs a and b of the text with separator sep between
// them: pairMark, the last pairEnd characters of a, sep, and the first pairStart of b.
func pairLexeme(a, sep, b string) string {
	ra, rb := []rune(a), []rune(b)
	return pairMark + string(ra[len(ra)-pairEnd:]) + sep + string(rb[:min(len(rb), pairStart)])
}

// cut keeps the first maxRun characters of a run, as the index does.
func cut(run string) string {
	n := 0
	for i := range run {
		if n == maxRun {
			return run[:i]
		}
		n++
	}
	return run
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// lexeme quotes a run for tsquery's input syntax; prefix matches every lexeme it starts.
func lexeme(run string, prefix bool) string {
	l := "'" + strings.ReplaceAll(strings.ReplaceAll(run, `\`, `\\`), `'`, `''`) + "'"
	if prefix {
		l += ":*"
	}
	return l
}
