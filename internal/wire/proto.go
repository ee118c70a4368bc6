package wire

import (
	"errors"
	"math"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The Proto functions read binary protobuf as proto.Unmarshal does, for the requests that read
// themselves (events.TrackBatchRequest): Struct straight into JSON values, as Map returns them,
// so that no structpb tree is built first; Timestamp; strings. They follow proto.Unmarshal's
// rules, which FuzzReadTrackBatchProto checks in package events:
//
//   - a field seen twice: the last scalar wins, and messages merge (a Struct's keys, a
//     ListValue's values, a Timestamp's fields); a oneof member replaces another member, and
//     merges into itself;
//   - a known field of the wrong wire type is an unknown field; unknown fields are skipped,
//     and must still parse;
//   - strings (map keys too) must be UTF-8;
//   - every message, and every map entry, takes one level of MaxRecursion.

// proto.Unmarshal's refusals of a string that is not UTF-8 and of a field number past 2^29-1.
var (
	errProtoUTF8        = errors.New("string field contains invalid UTF-8")
	errProtoFieldNumber = errors.New("invalid field number")
)

// ProtoFields calls f for each field of the message b, with the value's bytes for a
// length-delimited field and the number for varint and fixed ones; a field f does not know it
// leaves alone, as unknown (groups never reach it). It fails on a malformed field.
func ProtoFields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber { // ConsumeTag takes numbers up to 2^31-1
			return errProtoFieldNumber
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		default: // groups: never a known field here
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// ProtoString is a string field's value: UTF-8, as proto3 requires.
func ProtoString(v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", errProtoUTF8
	}
	return string(v), nil
}

// ProtoTime is a Timestamp field being read: Set once it appeared, even empty.
type ProtoTime struct {
	Set     bool
	seconds int64
	nanos   int32
}

// Merge merges the Timestamp message v into t; depth is what is left of MaxRecursion where
// the field is.
func (t *ProtoTime) Merge(v []byte, depth int) error {
	if depth--; depth < 0 {
		return ErrRecursion
	}
	t.Set = true
	return ProtoFields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			t.seconds = int64(x)
		case num == 2 && typ == protowire.VarintType:
			t.nanos = int32(x)
		}
		return nil
	})
}

// Time is the timestamp as timestamppb's AsTime gives it.
func (t ProtoTime) Time() time.Time {
	return time.Unix(t.seconds, int64(t.nanos)).UTC()
}

// ProtoStruct merges the Struct message v into m (nil: a new map) and returns it; depth is
// what is left of MaxRecursion where the field is.
func ProtoStruct(v []byte, m map[string]any, depth int) (map[string]any, error) {
	if depth--; depth < 0 {
		return nil, ErrRecursion
	}
	if m == nil {
		m = map[string]any{}
	}
	err := ProtoFields(v, func(num protowire.Number, typ protowire.Type, entry []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		key, val, err := protoEntry(entry, depth)
		if err != nil {
			return err
		}
		m[key] = val
		return nil
	})
	return m, err
}

// protoEntry reads one entry of Struct's map: a new Value for each entry, merged within it.
func protoEntry(b []byte, depth int) (string, any, error) {
	if depth--; depth < 0 {
		return "", nil, ErrRecursion
	}
	var key string
	var val any
	err := ProtoFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case 1:
			key, err = ProtoString(v)
		case 2:
			val, err = protoValue(val, v, depth)
		}
		return err
	})
	return key, val, err
}

// protoValue merges the Value message b into val, a value it read before (nil: none), and
// returns it as Map gives it. Its oneof's members replace each other; a Struct or a ListValue
// merges into one of its own kind.
func protoValue(val any, b []byte, depth int) (any, error) {
	if depth--; depth < 0 {
		return nil, ErrRecursion
	}
	err := ProtoFields(b, func(num protowire.Number, typ protowire.Type, p []byte, x uint64) error {
		var err error
		switch {
		case num == 1 && typ == protowire.VarintType:
			val = nil
		case num == 2 && typ == protowire.Fixed64Type:
			val = math.Float64frombits(x)
		case num == 3 && typ == protowire.BytesType:
			val, err = ProtoString(p)
		case num == 4 && typ == protowire.VarintType:
			val = x != 0
		case num == 5 && typ == protowire.BytesType:
			into, _ := val.(map[string]any)
			val, err = ProtoStruct(p, into, depth)
		case num == 6 && typ == protowire.BytesType:
			list, ok := val.([]any)
			if !ok {
				list = []any{}
			}
			val, err = protoList(p, list, depth)
		}
		return err
	})
	return val, err
}

// protoList appends the values of the ListValue message b to list.
func protoList(b []byte, list []any, depth int) ([]any, error) {
	if depth--; depth < 0 {
		return nil, ErrRecursion
	}
	err := ProtoFields(b, func(num protowire.Number, typ protowire.Type, p []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		v, err := protoValue(nil, p, depth)
		if err != nil {
			return err
		}
		list = append(list, v)
		return nil
	})
	return list, err
}
