package wire

import (
	"math"

	"google.golang.org/protobuf/types/known/structpb"
)

// Map returns s as JSON values, as structpb's AsMap does, except that a number that is not
// finite stays a float64: AsMap turns NaN and ±Inf (which binary protobuf can carry) into the
// strings "NaN" and "Infinity", so validation would store a string the client never sent
// instead of refusing the value. A nil or empty Struct gives nil.
func Map(s *structpb.Struct) map[string]any {
	if len(s.GetFields()) == 0 {
		return nil
	}
	out := make(map[string]any, len(s.GetFields()))
	for k, v := range s.GetFields() {
		out[k] = value(v)
	}
	return out
}

// Value is Map for one value: a nil Value gives nil.
func Value(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	return value(v)
}

func value(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return k.NumberValue
		}
	case *structpb.Value_StructValue:
		if m := Map(k.StructValue); m != nil {
			return m
		}
		return map[string]any{}
	case *structpb.Value_ListValue:
		list := make([]any, len(k.ListValue.GetValues()))
		for i, e := range k.ListValue.GetValues() {
			list[i] = value(e)
		}
		return list
	}
	return v.AsInterface()
}
