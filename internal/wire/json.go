package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JSONReader reads a request in Connect's JSON (protojson's dialect) straight into the plain
// values the domain takes, without building the generated message first. protojson builds a
// structpb tree for every Struct, and Map copies it again: under TrackBatch over JSON that was a
// third of the server's CPU (the README's Performance section).
//
// It accepts and refuses exactly what protojson.UnmarshalOptions{DiscardUnknown: true} does for
// the message it reads, token by token: the same number and literal grammar (a literal ends at a
// delimiter), the same string rules (valid UTF-8, no raw control characters, surrogate escapes
// only in pairs), duplicate fields and Struct keys refused, unknown fields skipped but checked,
// and the same recursion budget. FuzzReadTrackBatchJSON in package events pins this against
// protojson itself; keep the two in step when protojson changes.
//
// A caller reads a message with Object and Member, and its fields with the typed reads below.
type JSONReader struct {
	in  []byte
	off int
	buf []byte // the last string read that had escapes, unescaped
}

// MaxRecursion is protojson's default recursion budget: every message, Struct, ListValue and
// Value read takes one from it.
const MaxRecursion = 10000

// ErrRecursion is returned for input nested past MaxRecursion.
var ErrRecursion = errors.New("exceeded max recursion depth")

// NewJSONReader returns a reader of b.
func NewJSONReader(b []byte) *JSONReader { return &JSONReader{in: b} }

// syntaxError is a refusal at a byte offset of the input.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s (at byte %d)", e.msg, e.off) }

func (r *JSONReader) errorf(format string, args ...any) error {
	return &syntaxError{off: r.off, msg: fmt.Sprintf(format, args...)}
}

func (r *JSONReader) space() {
	for r.off < len(r.in) {
		switch r.in[r.off] {
		case ' ', '\n', '\r', '\t':
			r.off++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (r *JSONReader) peek() byte {
	r.space()
	if r.off == len(r.in) {
		return 0
	}
	return r.in[r.off]
}

func (r *JSONReader) expect(c byte, what string) error {
	switch got := r.peek(); {
	case got == c:
		r.off++
		return nil
	case r.off == len(r.in):
		return r.errorf("unexpected end of input, want %s", what)
	default:
		return r.errorf("unexpected %s, want %s", r.tokenText(), what)
	}
}

// tokenText names the token at the reader's offset for an error: a run of literal bytes, or
// the one byte there.
func (r *JSONReader) tokenText() string {
	rest := r.in[r.off:]
	n := 1
	for n < len(rest) && n < 16 && isNotDelim(rest[0]) && isNotDelim(rest[n]) {
		n++
	}
	return strconv.Quote(string(rest[:n]))
}

// End checks that nothing but whitespace follows the value read.
func (r *JSONReader) End() error {
	if r.space(); r.off < len(r.in) {
		return r.errorf("unexpected %s after the message", r.tokenText())
	}
	return nil
}

// Object consumes the '{' that opens a message.
func (r *JSONReader) Object() error { return r.expect('{', "an object") }

// Member reads the name of the next member of the object being read; i counts the members
// read so far. It returns ok false once it has consumed the closing '}'. The name is valid
// until the next read.
func (r *JSONReader) Member(i int) (name []byte, ok bool, err error) {
	if r.peek() == '}' {
		r.off++
		return nil, false, nil
	}
	if i > 0 {
		if err := r.expect(',', `"," or "}"`); err != nil {
			return nil, false, err
		}
	}
	if r.peek() != '"' {
		if r.off == len(r.in) {
			return nil, false, r.errorf("unexpected end of input, want a field name")
		}
		return nil, false, r.errorf("unexpected %s, want a field name", r.tokenText())
	}
	name, err = r.stringBytes()
	if err != nil {
		return nil, false, err
	}
	if err := r.expect(':', `":" after a field name`); err != nil {
		return nil, false, err
	}
	return name, true, nil
}

// Array consumes the '[' that opens a repeated field.
func (r *JSONReader) Array() error { return r.expect('[', "an array") }

// Element reports whether another element of the array being read follows (consuming the
// comma before it); false once it has consumed the closing ']'. i counts the elements read.
func (r *JSONReader) Element(i int) (bool, error) {
	if r.peek() == ']' {
		r.off++
		return false, nil
	}
	if i > 0 {
		if err := r.expect(',', `"," or "]"`); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Null consumes a null if one is next: protojson leaves a field set to null unset.
func (r *JSONReader) Null() bool {
	if r.peek() == 'n' && r.literal("null") {
		r.off += len("null")
		return true
	}
	return false
}

// String reads a string value.
func (r *JSONReader) String() (string, error) {
	if r.peek() != '"' {
		return "", r.valueError("a string")
	}
	b, err := r.stringBytes()
	return string(b), err
}

// valueError refuses the token at the offset where a value of kind want belongs.
func (r *JSONReader) valueError(want string) error {
	if r.off == len(r.in) {
		return r.errorf("unexpected end of input, want %s", want)
	}
	return r.errorf("unexpected %s, want %s", r.tokenText(), want)
}

// Timestamp reads a google.protobuf.Timestamp: an RFC 3339 string, checked as protojson checks
// it (years 1 to 9999, at most nine fractional digits).
func (r *JSONReader) Timestamp() (time.Time, error) {
	at := r.off
	s, err := r.String()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &syntaxError{off: at, msg: fmt.Sprintf("invalid google.protobuf.Timestamp value %q", s)}
	}
	if secs := t.Unix(); secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return time.Time{}, &syntaxError{off: at, msg: fmt.Sprintf("google.protobuf.Timestamp value out of range: %q", s)}
	}
	i := strings.LastIndexByte(s, '.')
	j := strings.LastIndexAny(s, "Z-+")
	if i >= 0 && j >= i && j-i > len(".999999999") {
		return time.Time{}, &syntaxError{off: at, msg: fmt.Sprintf("invalid google.protobuf.Timestamp value %q", s)}
	}
	return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC(), nil
}

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// Struct reads a google.protobuf.Struct as Map returns it (nil when it has no fields). budget
// is what is left of MaxRecursion in the message holding the field.
func (r *JSONReader) Struct(budget int) (map[string]any, error) {
	if budget--; budget < 0 { // the Struct, a message of its own
		return nil, ErrRecursion
	}
	if r.peek() != '{' {
		return nil, r.valueError("an object")
	}
	m, err := r.object(budget)
	if err != nil || len(m) == 0 {
		return nil, err
	}
	return m, nil
}

// object reads the fields of a Struct, from its '{'. Like protojson, it takes nothing from
// budget for a Struct or ListValue inside a Value, only for each Value.
func (r *JSONReader) object(budget int) (map[string]any, error) {
	r.off++
	m := map[string]any{}
	for i := 0; ; i++ {
		name, ok, err := r.Member(i)
		if err != nil || !ok {
			return m, err
		}
		at := r.off
		key := string(name)
		if _, dup := m[key]; dup {
			return nil, &syntaxError{off: at, msg: fmt.Sprintf("duplicate map key %q", key)}
		}
		v, err := r.value(budget)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
}

// list reads the values of a ListValue, from its '['.
func (r *JSONReader) list(budget int) ([]any, error) {
	r.off++
	list := []any{}
	for i := 0; ; i++ {
		more, err := r.Element(i)
		if err != nil || !more {
			return list, err
		}
		v, err := r.value(budget)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
}

// value reads a google.protobuf.Value as Value returns it.
func (r *JSONReader) value(budget int) (any, error) {
	if budget--; budget < 0 {
		return nil, ErrRecursion
	}
	switch c := r.peek(); {
	case c == '{':
		return r.object(budget)
	case c == '[':
		return r.list(budget)
	case c == '"':
		b, err := r.stringBytes()
		return string(b), err
	case c == 'n' && r.literal("null"):
		r.off += len("null")
		return nil, nil
	case c == 't' && r.literal("true"):
		r.off += len("true")
		return true, nil
	case c == 'f' && r.literal("false"):
		r.off += len("false")
		return false, nil
	case c == '-' || '0' <= c && c <= '9':
		at := r.off
		n, ok := numberLen(r.in[r.off:])
		if !ok {
			return nil, r.errorf("invalid value %s", r.tokenText())
		}
		f, err := strconv.ParseFloat(string(r.in[at:at+n]), 64)
		if err != nil {
			return nil, &syntaxError{off: at, msg: fmt.Sprintf("invalid google.protobuf.Value: %s", r.in[at:at+n])}
		}
		r.off += n
		return f, nil
	}
	return nil, r.valueError("a value")
}

// Skip reads and drops the value of an unknown field, refusing what protojson refuses: any
// token out of place, and nesting deeper than budget (what is left of MaxRecursion in the
// message holding the field).
func (r *JSONReader) Skip(budget int) error {
	var open []byte // the containers the value has open: '{' or '['
	for {
		switch c := r.peek(); {
		case c == '{' || c == '[':
			r.off++
			if len(open)+1 > budget {
				return ErrRecursion
			}
			if r.peek() == c+2 { // '{'+2 is '}', '['+2 is ']'
				r.off++
				break
			}
			open = append(open, c)
			if c == '{' {
				if err := r.skipName(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := r.stringBytes(); err != nil {
				return err
			}
		case c == 'n' && r.literal("null"), c == 't' && r.literal("true"):
			r.off += 4
		case c == 'f' && r.literal("false"):
			r.off += 5
		case c == '-' || '0' <= c && c <= '9':
			n, ok := numberLen(r.in[r.off:])
			if !ok {
				return r.errorf("invalid value %s", r.tokenText())
			}
			r.off += n
		default:
			return r.valueError("a value")
		}
		// A value ended: close the containers it ends, then go on to the next member or element.
		for {
			if len(open) == 0 {
				return nil
			}
			top := open[len(open)-1]
			c := r.peek()
			if c == top+2 {
				r.off++
				open = open[:len(open)-1]
				continue
			}
			if c != ',' {
				return r.valueError(`"," or a closing bracket`)
			}
			r.off++
			if top == '{' {
				if err := r.skipName(); err != nil {
					return err
				}
			}
			break
		}
	}
}

func (r *JSONReader) skipName() error {
	if r.peek() != '"' {
		return r.valueError("a field name")
	}
	if _, err := r.stringBytes(); err != nil {
		return err
	}
	return r.expect(':', `":" after a field name`)
}
