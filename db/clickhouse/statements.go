package clickhouse

import "strings"

// splitStatements cuts a migration file into statements at every ';' that is not inside a
// string literal, a quoted identifier or a comment, and drops the pieces holding nothing but
// whitespace and comments. The native protocol takes one statement per query, and a ';' inside
// 'a;b' or after "-- why;" must not end one (statements_test.go).
//
// The lexical rules are the ones 18.16 and current ClickHouse share: '...' strings and "..." /
// `...` identifiers escape with a backslash or by doubling the quote; "--" comments run to the
// end of the line; /* */ comments do not nest. ('#' starts a comment only on current versions:
// do not use it in migrations.)
func splitStatements(sql string) []string {
	var (
		out   []string
		start int
		quote byte // the open quote character, or 0
		line  bool // inside a -- comment
		block bool // inside a /* */ comment
	)
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		next := byte(0)
		if i+1 < len(sql) {
			next = sql[i+1]
		}
		switch {
		case line:
			line = c != '\n'
		case block:
			if c == '*' && next == '/' {
				block = false
				i++
			}
		case quote != 0:
			if c == '\\' {
				i++ // the escaped character cannot close the literal
			} else if c == quote {
				if next == quote {
					i++ // a doubled quote is an escaped quote
				} else {
					quote = 0
				}
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '-' && next == '-':
			line = true
			i++
		case c == '/' && next == '*':
			block = true
			i++
		case c == ';':
			out = appendStatement(out, sql[start:i])
			start = i + 1
		}
	}
	return appendStatement(out, sql[start:])
}

func appendStatement(out []string, stmt string) []string {
	stmt = strings.TrimSpace(stmt)
	if onlyComments(stmt) {
		return out
	}
	return append(out, stmt)
}

// onlyComments reports whether stmt holds nothing but whitespace and comments.
func onlyComments(stmt string) bool {
	for {
		stmt = strings.TrimSpace(stmt)
		switch {
		case stmt == "":
			return true
		case strings.HasPrefix(stmt, "--"):
			end := strings.IndexByte(stmt, '\n')
			if end < 0 {
				return true
			}
			stmt = stmt[end+1:]
		case strings.HasPrefix(stmt, "/*"):
			end := strings.Index(stmt[2:], "*/")
			if end < 0 {
				return true // unterminated: the server would find no statement either
			}
			stmt = stmt[2+end+2:]
		default:
			return false
		}
	}
}
