package postgres

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// The word index (migrations/0010_word_tails.sql) holds the runs of the search column: the
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
const (
	maxRun = 254 // characters kept of a run; PostgreSQL's regular expressions count to 255
	// minAffix is the shortest start or end of a run worth a prefix scan: shorter ones
	// ("a:*") read a large part of the index.
	minAffix = 3
	// tailMark starts the tail lexemes; a separator, so no whole run starts with it.
	tailMark = "~"
)

// isRunRune reports whether r belongs to a run: the migration's separator class is every
// other ASCII character.
func isRunRune(r rune) bool {
	return r >= utf8.RuneSelf || 'a' <= r && r <= 'z'
}

// wordQuery returns the tsquery that the word index answers for q (lower-cased, as the
// search column is), or "" when q's runs pin too little: fewer than two conditions and no
// whole run, where the trigram index does better. Every profile whose search text contains
// q matches the tsquery; the caller still checks the substring.
func wordQuery(q string) string {
	var conds []string
	whole := false
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
		run := q[start:end]
		left, right := start > 0, end < len(q)
		switch {
		case left && right:
			conds = append(conds, lexeme(cut(run), false))
			whole = whole || utf8.RuneCountInString(run) >= minAffix
		case left && utf8.RuneCountInString(run) >= minAffix: // starts a run of the text
			conds = append(conds, lexeme(cut(run), true))
		case right && utf8.RuneCountInString(run) >= minAffix: // ends one: is one, or a tail starts with it
			conds = append(conds, "("+lexeme(cut(run), false)+" | "+lexeme(tailMark+cut(reverse(run)), true)+")")
		}
		start = end
	}
	slices.Sort(conds)
	conds = slices.Compact(conds)
	if len(conds) < 2 && !whole {
		return ""
	}
	return strings.Join(conds, " & ")
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
