package events

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
)

// viaProtoUnmarshal reads b the way the API did before TrackBatchRequest read its own binary:
// proto.Unmarshal into the generated message, then eventOf. The reader must match it.
func viaProtoUnmarshal(b []byte) ([]Event, error) {
	var m eventsv1.TrackBatchRequest
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	es := make([]Event, len(m.GetEvents()))
	for i, e := range m.GetEvents() {
		es[i] = eventOf(e)
	}
	return es, nil
}

// protoEventCmp prints a difference; sameEvents finds it.
var protoEventCmp = cmp.Options{cmpopts.IgnoreUnexported(Event{}), cmpopts.EquateNaNs()}

// sameEvents compares properties strictly (a nil and an empty map or list encode differently)
// but takes NaN for NaN, which binary properties can carry; cmp.Equal takes exponential time
// over deeply nested lists. No events are no events, nil or empty.
func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameEvent(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameEvent(a, b Event) bool {
	return a.Name == b.Name && a.AnonymousID == b.AnonymousID && a.ExternalID == b.ExternalID &&
		a.MessageID == b.MessageID && a.Timestamp.Equal(b.Timestamp) && a.Timestamp.IsZero() == b.Timestamp.IsZero() &&
		sameValue(a.Properties, b.Properties)
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || math.IsNaN(a) && math.IsNaN(b))
	}
	return a == b
}

// checkProtoBatch fails unless the reader and proto.Unmarshal agree on b, as a TrackBatch and as
// a TrackRequest: both refuse it, or both read the same events.
func checkProtoBatch(t *testing.T, b []byte) {
	t.Helper()
	want, wantErr := viaProtoUnmarshal(b)
	var got TrackBatchRequest
	gotErr := got.UnmarshalProtoBinary(b)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%x: batch: reader error %v, proto.Unmarshal error %v", b, gotErr, wantErr)
	}
	if gotErr == nil && !sameEvents(want, got.Events) {
		t.Fatalf("%x: batch differs from proto.Unmarshal's (-want +got):\n%s", b, cmp.Diff(want, got.Events, protoEventCmp))
	}

	var m eventsv1.TrackRequest
	wantErr = proto.Unmarshal(b, &m)
	var one TrackRequest
	gotErr = one.UnmarshalProtoBinary(b)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%x: track: reader error %v, proto.Unmarshal error %v", b, gotErr, wantErr)
	}
	if gotErr == nil && !sameEvent(eventOf(&m), one.Event) {
		t.Fatalf("%x: track differs from proto.Unmarshal's (-want +got):\n%s", b, cmp.Diff(eventOf(&m), one.Event, protoEventCmp))
	}
}

// protoCases are binary bodies on both sides of proto.Unmarshal's rules; the fuzz target starts
// from them.
func protoCases(t testing.TB) [][]byte {
	props, err := structpb.NewStruct(map[string]any{
		"s": "x", "n": -1.5e3, "t": true, "nil": nil, "o": map[string]any{}, "l": []any{},
		"deep": map[string]any{"a": []any{1, map[string]any{"b": []any{nil, "c"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	props.Fields["nan"] = structpb.NewNumberValue(math.NaN())
	props.Fields["inf"] = structpb.NewNumberValue(math.Inf(-1))
	props.Fields["unset"] = &structpb.Value{}
	full := &eventsv1.Event{Event: "Signed Up", AnonymousId: "anon-1", ExternalId: "user-1", MessageId: "m1",
		Properties: props, Timestamp: &timestamppb.Timestamp{Seconds: 1_764_900_000, Nanos: 123}}
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	batch := marshal(&eventsv1.TrackBatchRequest{Events: []*eventsv1.Event{full, {}, {Timestamp: &timestamppb.Timestamp{}}}})
	one := marshal(full)
	field := func(num protowire.Number, typ protowire.Type, v []byte) []byte {
		b := protowire.AppendTag(nil, num, typ)
		switch typ {
		case protowire.BytesType:
			return protowire.AppendBytes(b, v)
		case protowire.VarintType:
			return protowire.AppendVarint(b, 7)
		case protowire.Fixed64Type:
			return protowire.AppendFixed64(b, math.Float64bits(2.5))
		}
		return append(b, v...)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	entry := func(key string, value []byte) []byte {
		return field(1, protowire.BytesType, cat(field(1, protowire.BytesType, []byte(key)), field(2, protowire.BytesType, value)))
	}
	structOf := func(entries ...[]byte) []byte { return cat(entries...) }
	return [][]byte{
		nil,
		batch,
		one,
		cat(batch, batch), // events appended
		cat(one, one),     // scalars replaced, properties merged
		field(1, protowire.BytesType, cat(one, field(4, protowire.BytesType, structOf(entry("s", field(3, protowire.BytesType, []byte("y"))))))),
		field(1, protowire.VarintType, nil),                                              // events of the wrong wire type: unknown
		field(9, protowire.BytesType, []byte("skipped")),                                 // unknown field
		field(1, protowire.BytesType, field(1, protowire.BytesType, []byte{0xff})),       // event name not UTF-8
		field(1, protowire.BytesType, field(4, protowire.BytesType, entry("\xff", nil))), // key not UTF-8
		// one Value holding a struct twice (merged), then a list twice (appended), then a number
		field(4, protowire.BytesType, structOf(entry("v", cat(
			field(5, protowire.BytesType, structOf(entry("a", field(4, protowire.VarintType, nil)))),
			field(5, protowire.BytesType, structOf(entry("b", field(2, protowire.Fixed64Type, nil)))))))),
		field(4, protowire.BytesType, structOf(entry("v", cat(
			field(6, protowire.BytesType, field(1, protowire.BytesType, field(3, protowire.BytesType, []byte("x")))),
			field(6, protowire.BytesType, field(1, protowire.BytesType, nil)))))),
		field(4, protowire.BytesType, structOf(entry("v", cat(
			field(6, protowire.BytesType, nil), field(2, protowire.Fixed64Type, nil))))),
		field(4, protowire.BytesType, structOf(entry("k", nil), entry("k", field(1, protowire.VarintType, nil)))), // a key twice
		field(5, protowire.BytesType, cat(field(1, protowire.VarintType, nil), field(1, protowire.Fixed64Type, nil))),
		{0x0b, 0x0c},       // an empty group: unknown, skipped
		{0x0c},             // an end of group with no start
		{0x08},             // a truncated varint
		{0x00, 0x01},       // field number 0
		{0x0a, 0x05, 0x01}, // a length past the end
	}
}

func TestReadTrackBatchProtoAsProtoUnmarshal(t *testing.T) {
	t.Parallel()
	for _, b := range protoCases(t) {
		checkProtoBatch(t, b)
	}
}

// TestReadTrackBatchProtoRecursion: the reader refuses nesting where proto.Unmarshal does, at
// its limit (a list level costs two of 10,000, a struct level three: its map entry counts).
func TestReadTrackBatchProtoRecursion(t *testing.T) {
	t.Parallel()
	refused := 0
	for shape := range 2 {
		for depth := 3996; depth <= 4001; depth++ {
			v := structpb.NewNullValue()
			for i := range depth {
				if (i+shape)%2 == 0 {
					v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
				} else {
					v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"k": v}})
				}
			}
			b, err := proto.Marshal(&eventsv1.TrackBatchRequest{Events: []*eventsv1.Event{
				{Properties: &structpb.Struct{Fields: map[string]*structpb.Value{"p": v}}}}})
			if err != nil {
				t.Fatal(err)
			}
			checkProtoBatch(t, b)
			if proto.Unmarshal(b, &eventsv1.TrackBatchRequest{}) != nil {
				refused++
			}
		}
	}
	if refused == 0 || refused == 12 {
		t.Errorf("proto.Unmarshal refused %d of 12 nestings: the depths no longer straddle its limit", refused)
	}
}

// FuzzReadTrackBatchProto checks the reader against proto.Unmarshal on any input.
func FuzzReadTrackBatchProto(f *testing.F) {
	for _, b := range protoCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkProtoBatch(t, b)
	})
}

func BenchmarkReadTrackBatchProto(b *testing.B) {
	var m eventsv1.TrackBatchRequest
	if err := protojson.Unmarshal(batchJSON(100), &m); err != nil {
		b.Fatal(err)
	}
	in, err := proto.Marshal(&m)
	if err != nil {
		b.Fatal(err)
	}
	benchReaders(b, in,
		func(in []byte) error { var t TrackBatchRequest; return t.UnmarshalProtoBinary(in) },
		"proto.Unmarshal", func(in []byte) error { _, err := viaProtoUnmarshal(in); return err })
}
