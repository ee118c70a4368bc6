package wire

import (
	"math"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
)

func TestMapKeepsNonFiniteNumbers(t *testing.T) {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{
		"nan":    structpb.NewNumberValue(math.NaN()),
		"nested": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"inf": structpb.NewNumberValue(math.Inf(1))}}),
		"list":   structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(math.Inf(-1)), structpb.NewStringValue("x")}}),
		"plain":  structpb.NewStringValue("v"),
	}}
	m := Map(s)
	if f, ok := m["nan"].(float64); !ok || !math.IsNaN(f) {
		t.Errorf("nan = %#v, want float64 NaN", m["nan"])
	}
	if f, ok := m["nested"].(map[string]any)["inf"].(float64); !ok || !math.IsInf(f, 1) {
		t.Errorf("nested.inf = %#v, want +Inf", m["nested"])
	}
	if f, ok := m["list"].([]any)[0].(float64); !ok || !math.IsInf(f, -1) {
		t.Errorf("list[0] = %#v, want -Inf", m["list"])
	}
	if m["plain"] != "v" || Map(nil) != nil {
		t.Errorf("plain values changed: %v", m)
	}
}
