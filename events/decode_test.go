package events

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/internal/wire"
)

// viaProtojson reads b the way the API did before TrackBatchRequest read its own JSON: protojson
// into the generated message, then the conversion the binary path still makes. It is the
// reference the reader must match.
func viaProtojson(b []byte) ([]Event, error) {
	var m eventsv1.TrackBatchRequest
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &m); err != nil {
		return nil, err
	}
	es := make([]Event, len(m.GetEvents()))
	for i, e := range m.GetEvents() {
		es[i] = eventOf(e)
	}
	return es, nil
}

func trackViaProtojson(b []byte) (Event, error) {
	var m eventsv1.TrackRequest
	err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &m)
	return eventOf(&m), err
}

// eventMessage is what eventsv1.Event and eventsv1.TrackRequest share.
type eventMessage interface {
	GetEvent() string
	GetAnonymousId() string
	GetExternalId() string
	GetProperties() *structpb.Struct
	GetTimestamp() *timestamppb.Timestamp
	GetMessageId() string
}

// eventOf is the conversion of a generated message the API made before the requests read
// themselves: the reference for both readers.
func eventOf(m eventMessage) Event {
	e := Event{
		Name:        m.GetEvent(),
		AnonymousID: m.GetAnonymousId(),
		ExternalID:  m.GetExternalId(),
		Properties:  wire.Map(m.GetProperties()),
		MessageID:   m.GetMessageId(),
	}
	if ts := m.GetTimestamp(); ts != nil {
		e.Timestamp = ts.AsTime()
	}
	return e
}

// eventCmp prints a difference that reflect.DeepEqual found: a nil and an empty slice differ
// for the reader as for protojson, so only the diff's text may ignore that.
var eventCmp = cmp.Options{cmpopts.IgnoreUnexported(Event{})}

// nested returns a batch whose one event holds a property nested depth arrays deep.
func nested(depth int) string {
	return `{"events":[{"event":"e","anonymousId":"a","properties":{"p":` +
		strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}]}`
}

// batchCases are TrackBatch bodies on both sides of protojson's rules; the fuzz target starts
// from them.
var batchCases = []string{
	`{}`,
	` { "events" : [ ] } `,
	`{"events":null}`,
	`{"events":[{}]}`,
	`{"events":[{"event":"Signed Up","anonymousId":"anon-1","externalId":"user-1","messageId":"m1"}]}`,
	`{"events":[{"event":"e","anonymous_id":"a","external_id":"u","message_id":"m"}]}`,
	`{"ev\u0065nts":[{"\u0065vent":"e\u00e9\ud83d\ude00","anonymousId":"a\/b\"c\\d\b\f\n\r\t"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","properties":{"s":"x","n":-1.5e3,"z":-0,"t":true,"f":false,"nil":null,"o":{},"l":[],"deep":{"a":[1,{"b":[null,"c"]}]}}}]}`,
	`{"events":[{"event":"e","anonymousId":"a","properties":{}}]}`,
	`{"events":[{"event":"e","anonymousId":"a","properties":null,"timestamp":null,"event":null}]}`,
	`{"events":[{"event":null,"event":"e"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":"2026-01-15T10:00:00Z"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":"2026-01-15T10:00:00.123456789+02:00"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":"2026-01-15T10:00:00.1234567891Z"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":"0000-01-15T10:00:00Z"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":"2026-01-15 10:00:00Z"}]}`,
	`{"events":[{"event":"e","anonymousId":"a","timestamp":1700000000}]}`,
	`{"unknown":{"a":[1,{"b":null}],"c":"\u00e9"},"events":[{"x":[[],{}],"event":"e"}],"more":1e}`,
	`{"unknown":1e+,"events":[]}`,
	`{"unknown":01}`,
	`{"unknown":[1,]}`,
	`{"unknown":{"a" 1}}`,
	`{"unknown":{"a":1,}}`,
	`{"unknown":{,}}`,
	`{"unknown":[,1]}`,
	`{"unknown":"a\u00"}`,
	`{"unknown":tru}`,
	`{"unknown":nullx}`,
	`{"unknown":{"a":1}]}`,
	`{"[ext.name]":1}`,
	`{"events":[],"events":[]}`,
	`{"events":[{"anonymousId":"a","anonymous_id":"b"}]}`,
	`{"events":[{"properties":{"a":1,"a":2}}]}`,
	`{"events":[{"properties":{"a":1e400}}]}`,
	`{"events":[{"properties":{"a":1e}}]}`,
	`{"events":[{"properties":{"a":01}}]}`,
	`{"events":[{"properties":{"a":.5}}]}`,
	`{"events":[{"properties":{"a":-}}]}`,
	`{"events":[{"properties":{"a":"NaN","b":"Infinity"}}]}`,
	`{"events":[{"properties":[1]}]}`,
	`{"events":[{"properties":"x"}]}`,
	`{"events":[{"event":1}]}`,
	`{"events":[{"event":"a\ud800"}]}`,
	`{"events":[{"event":"a\udc00\ud800"}]}`,
	`{"events":[{"event":"a\ud800\u0041"}]}`,
	`{"events":[{"event":"a\u00zz"}]}`,
	`{"events":[{"event":"a\x"}]}`,
	"{\"events\":[{\"event\":\"a\tb\"}]}",
	"{\"events\":[{\"event\":\"a\xffb\"}]}",
	"{\"events\":[{\"event\":\"\xef\xbf\xbd\"}]}",
	"{\"events\":[{\"event\":\"\\u0000\"}]}",
	`{"events":[null]}`,
	`{"events":[1]}`,
	`{"events":{}}`,
	`{"events":[{}],}`,
	`{"events":[{}]} x`,
	`{"events":[{}]}{}`,
	`[]`,
	`null`,
	` `,
	`{`,
	`{"events":[{"event":"e"`,
	"\xef\xbb\xbf{}",
	nested(9994),
	nested(9995),
	nested(9996),
	`{"unknown":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"unknown":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

func TestReadTrackBatchJSONAsProtojson(t *testing.T) {
	t.Parallel()
	for _, in := range batchCases {
		checkBatch(t, []byte(in))
	}
}

func checkBatch(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := viaProtojson(in)
	var got TrackBatchRequest
	gotErr := got.UnmarshalProtoJSON(in)
	name := string(in)
	if len(name) > 120 {
		name = name[:120] + "…"
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Errorf("%q: error %v; protojson's %v", name, gotErr, wantErr)
		return
	}
	if gotErr == nil && (len(want) > 0 || len(got.Events) > 0) && !reflect.DeepEqual(want, got.Events) {
		t.Errorf("%q: events differ from protojson's (-want +got):\n%s", name, cmp.Diff(want, got.Events, eventCmp))
	}
}

func TestReadTrackJSONAsProtojson(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"event":"e","anonymousId":"a","properties":{"n":2,"l":[true]},"timestamp":"2026-01-15T10:00:00Z","messageId":"m"}`,
		`{"events":[{"event":"e"}]}`,
		`{"event":"e","event":"f"}`,
		`{"properties":{"a":{"b":{}}}}`,
		`{"event":"e"} {}`,
		`{"event":["e"]}`,
	} {
		want, wantErr := trackViaProtojson([]byte(in))
		var got TrackRequest
		gotErr := got.UnmarshalProtoJSON([]byte(in))
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: error %v; protojson's %v", in, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(want, got.Event) {
			t.Errorf("%q: event differs from protojson's (-want +got):\n%s", in, cmp.Diff(want, got.Event, eventCmp))
		}
	}
}

// FuzzReadTrackBatchJSON checks the reader against protojson on any input: both refuse it, or
// both read the same events.
func FuzzReadTrackBatchJSON(f *testing.F) {
	for _, in := range batchCases {
		if len(in) < 1000 {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkBatch(t, in)
	})
}

// batchJSON is a TrackBatch of n events as an SDK sends one: a dozen properties each.
func batchJSON(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event":"page_view","anonymousId":"0b7f6c1e-3f0a-4c55-9d1e-%012d","messageId":"msg-%d",`+
			`"timestamp":"2026-12-05T10:00:%02d.123Z","properties":{"path":"/pricing","referrer":"https://www.google.com/",`+
			`"title":"Pricing \u2014 Acme","n":%d,"width":1440,"height":900,"mobile":false,"utm_source":"newsletter",`+
			`"utm_campaign":"winter","tags":["a","b"],"session":{"id":"s-%d","page":3},"duration":12.5}}`, i, i, i%60, i, i/10)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkReadTrackBatchJSON(b *testing.B) {
	benchReaders(b, batchJSON(100),
		func(in []byte) error { var t TrackBatchRequest; return t.UnmarshalProtoJSON(in) },
		"protojson", func(in []byte) error { _, err := viaProtojson(in); return err })
}

// benchReaders runs the request's own reader of in ("reader") and the reference it replaced
// (ref, named refName) side by side, for benchstat.
func benchReaders(b *testing.B, in []byte, reader func([]byte) error, refName string, ref func([]byte) error) {
	for _, r := range []struct {
		name string
		read func([]byte) error
	}{{"reader", reader}, {refName, ref}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := r.read(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
