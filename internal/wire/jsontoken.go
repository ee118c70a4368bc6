package wire

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The tokens of JSONReader: literals, numbers and strings, each read exactly as protojson's
// tokenizer (google.golang.org/protobuf/internal/encoding/json) reads it.

// literal reports whether word (null, true or false) starts at the offset and ends at a
// delimiter, as protojson's tokenizer requires ("nullx" is no null).
func (r *JSONReader) literal(word string) bool {
	rest := r.in[r.off:]
	if len(rest) < len(word) || string(rest[:len(word)]) != word {
		return false
	}
	return len(rest) == len(word) || !isNotDelim(rest[len(word)])
}

// isNotDelim is protojson's: a literal or number must not run on into one of these bytes.
func isNotDelim(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c == '_' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// numberLen is protojson's parseNumber: the length of the number token at the start of s. It
// admits a few tokens ParseFloat refuses ("1e" before a delimiter): protojson skips those in
// unknown fields and refuses them as values, and so does this reader.
func numberLen(s []byte) (int, bool) {
	in := s
	n := 0
	if len(s) == 0 {
		return 0, false
	}
	if s[0] == '-' {
		s, n = s[1:], n+1
		if len(s) == 0 {
			return 0, false
		}
	}
	switch {
	case s[0] == '0':
		s, n = s[1:], n+1
	case '1' <= s[0] && s[0] <= '9':
		s, n = s[1:], n+1
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	default:
		return 0, false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s, n = s[2:], n+2
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s, n = s[1:], n+1
		if s[0] == '+' || s[0] == '-' {
			s, n = s[1:], n+1
			if len(s) == 0 {
				return 0, false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	}
	if n < len(in) && isNotDelim(in[n]) {
		return 0, false
	}
	return n, true
}

// stringBytes reads the string at the offset (which holds its opening quote) and returns its
// unescaped bytes, valid until the next read: the input's own bytes when it has no escapes,
// else the reader's scratch buffer.
func (r *JSONReader) stringBytes() ([]byte, error) {
	r.off++ // the quote
	start := r.off
	for i := start; i < len(r.in); {
		c := r.in[i]
		switch {
		case c == '"':
			r.off = i + 1
			return r.in[start:i:i], nil
		case c == '\\':
			out, err := r.unescape(append(r.buf[:0], r.in[start:i]...), i)
			if out != nil {
				r.buf = out
			}
			return out, err
		case c < ' ':
			r.off = i
			return nil, r.errorf("invalid character %q in string", c)
		case c < utf8.RuneSelf:
			i++
		default:
			rn, n := utf8.DecodeRune(r.in[i:])
			if rn == utf8.RuneError && n == 1 {
				r.off = i
				return nil, r.errorf("invalid UTF-8 in string")
			}
			i += n
		}
	}
	r.off = len(r.in)
	return nil, r.errorf("unexpected end of input in a string")
}

// unescape goes on from offset i, where the first escape is, appending to out.
func (r *JSONReader) unescape(out []byte, i int) ([]byte, error) {
	in := r.in
	for i < len(in) {
		c := in[i]
		switch {
		case c == '"':
			r.off = i + 1
			return out, nil
		case c == '\\':
			if i+1 >= len(in) {
				r.off = len(in)
				return nil, r.errorf("unexpected end of input in a string")
			}
			switch e := in[i+1]; e {
			case '"', '\\', '/':
				out, i = append(out, e), i+2
			case 'b':
				out, i = append(out, '\b'), i+2
			case 'f':
				out, i = append(out, '\f'), i+2
			case 'n':
				out, i = append(out, '\n'), i+2
			case 'r':
				out, i = append(out, '\r'), i+2
			case 't':
				out, i = append(out, '\t'), i+2
			case 'u':
				rn, n, err := r.unicodeEscape(i)
				if err != nil {
					return nil, err
				}
				out, i = utf8.AppendRune(out, rn), i+n
			default:
				r.off = i
				return nil, r.errorf("invalid escape code %q in string", in[i:i+2])
			}
		case c < ' ':
			r.off = i
			return nil, r.errorf("invalid character %q in string", c)
		case c < utf8.RuneSelf:
			out, i = append(out, c), i+1
		default:
			rn, n := utf8.DecodeRune(in[i:])
			if rn == utf8.RuneError && n == 1 {
				r.off = i
				return nil, r.errorf("invalid UTF-8 in string")
			}
			out, i = append(out, in[i:i+n]...), i+n
		}
	}
	r.off = len(in)
	return nil, r.errorf("unexpected end of input in a string")
}

// unicodeEscape reads \uXXXX at i, and the second half of a surrogate pair after it; a
// surrogate that is not half of a valid pair is refused, as protojson refuses it.
func (r *JSONReader) unicodeEscape(i int) (rune, int, error) {
	in := r.in
	if i+6 > len(in) {
		r.off = len(in)
		return 0, 0, r.errorf("unexpected end of input in a string")
	}
	v, err := strconv.ParseUint(string(in[i+2:i+6]), 16, 16)
	if err != nil {
		r.off = i
		return 0, 0, r.errorf("invalid escape code %q in string", in[i:i+6])
	}
	rn := rune(v)
	if !utf16.IsSurrogate(rn) {
		return rn, 6, nil
	}
	j := i + 6
	if j+6 > len(in) {
		r.off = len(in)
		return 0, 0, r.errorf("unexpected end of input in a string")
	}
	v2, err := strconv.ParseUint(string(in[j+2:j+6]), 16, 16)
	rn = utf16.DecodeRune(rn, rune(v2))
	if in[j] != '\\' || in[j+1] != 'u' || rn == utf8.RuneError || err != nil {
		r.off = j
		return 0, 0, r.errorf("invalid escape code %q in string", in[j:j+6])
	}
	return rn, 12, nil
}
