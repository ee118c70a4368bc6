package events_test

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/identity"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func valid() events.Event {
	return events.Event{
		Name:        "Signed Up",
		AnonymousID: "anon-1",
		Properties:  map[string]any{"plan": "pro", "seats": 3.0, "tags": []any{"a", "b"}},
		MessageID:   "msg-1",
	}
}

func TestAccept(t *testing.T) {
	t.Parallel()
	deep := map[string]any{}
	for cur, i := deep, 0; i < 7; i++ {
		next := map[string]any{}
		cur["k"] = next
		cur = next
	}
	manyKeys := map[string]any{}
	for i := range events.PropertyLimits.MaxTraits + 1 {
		manyKeys["k"+strconv.Itoa(i)] = true
	}
	bigProps := map[string]any{}
	for i := range 5 {
		bigProps["k"+strconv.Itoa(i)] = strings.Repeat("x", 7000) // each value under 8 KiB, all over 32 KiB
	}
	longKeys := map[string]any{} // 250 keys of 128 bytes: 32 KiB of keys, tiny values
	for i := range 250 {
		longKeys[strings.Repeat("k", 124)+strconv.Itoa(1000+i)] = true
	}
	tests := []struct {
		name   string
		edit   func(*events.Event)
		field  string // "" means accepted
		reason string // a substring of the reason
	}{
		{"valid", func(*events.Event) {}, "", ""},
		{"external id only", func(e *events.Event) { e.AnonymousID, e.ExternalID = "", "user-42" }, "", ""},
		{"no properties", func(e *events.Event) { e.Properties = nil }, "", ""},
		{"no message id", func(e *events.Event) { e.MessageID = "" }, "", ""},
		{"unicode name", func(e *events.Event) { e.Name = "Commande passée ✓" }, "", ""},
		{"timestamp at the lower bound", func(e *events.Event) { e.Timestamp = events.MinTimestamp }, "", ""},
		{"timestamp 24h ahead", func(e *events.Event) { e.Timestamp = now.Add(events.MaxClockSkew) }, "", ""},

		{"no name", func(e *events.Event) { e.Name = "" }, "event", "required"},
		{"blank name", func(e *events.Event) { e.Name = "   " }, "event", "whitespace"},
		{"long name", func(e *events.Event) { e.Name = strings.Repeat("n", events.MaxNameBytes+1) }, "event", "at most 200 bytes"},
		{"name with newline", func(e *events.Event) { e.Name = "a\nb" }, "event", "printable"},
		{"name with NUL", func(e *events.Event) { e.Name = "a\x00b" }, "event", "printable"},
		{"name with zero-width space", func(e *events.Event) { e.Name = "a\u200bb" }, "event", "U+200B"},
		{"name not UTF-8", func(e *events.Event) { e.Name = "a\xffb" }, "event", "UTF-8"},
		{"no ids", func(e *events.Event) { e.AnonymousID = "" }, "anonymousId", "at least one"},
		{"placeholder anonymous id", func(e *events.Event) { e.AnonymousID = "undefined" }, "anonymousId", "placeholder"},
		{"placeholder external id", func(e *events.Event) { e.ExternalID = "null" }, "externalId", "placeholder"},
		{"long external id", func(e *events.Event) { e.ExternalID = strings.Repeat("u", 201) }, "externalId", "at most 200"},
		{"control in anonymous id", func(e *events.Event) { e.AnonymousID = "a\tb" }, "anonymousId", "control"},
		{"long message id", func(e *events.Event) { e.MessageID = strings.Repeat("m", 201) }, "messageId", "at most 200"},
		{"message id with newline", func(e *events.Event) { e.MessageID = "m\n" }, "messageId", "printable"},
		{"blank message id", func(e *events.Event) { e.MessageID = "  " }, "messageId", "whitespace"},
		{"timestamp before 2000", func(e *events.Event) { e.Timestamp = events.MinTimestamp.Add(-time.Second) }, "timestamp", "between 2000-01-01"},
		{"timestamp epoch", func(e *events.Event) { e.Timestamp = time.Unix(0, 0) }, "timestamp", "between"},
		{"timestamp too far ahead", func(e *events.Event) { e.Timestamp = now.Add(events.MaxClockSkew + time.Second) }, "timestamp", "between"},
		{"key with dot", func(e *events.Event) { e.Properties = map[string]any{"a.b": 1.0} }, "properties", `property key "a.b" must not contain`},
		{"key with dollar", func(e *events.Event) { e.Properties = map[string]any{"$set": 1.0} }, "properties", "must not contain '.' or '$'"},
		{"nested bad key", func(e *events.Event) { e.Properties = map[string]any{"a": map[string]any{"": 1.0}} }, "properties.a", "property keys must not be empty"},
		{"NaN", func(e *events.Event) { e.Properties = map[string]any{"x": math.NaN()} }, "properties.x", "finite"},
		{"infinity in a list", func(e *events.Event) { e.Properties = map[string]any{"x": []any{1.0, math.Inf(1)}} }, "properties.x[1]", "finite"},
		{"NUL in a value", func(e *events.Event) { e.Properties = map[string]any{"x": "a\x00"} }, "properties.x", "NUL"},
		{"invalid UTF-8 value", func(e *events.Event) { e.Properties = map[string]any{"x": "\xed\xa0\x80"} }, "properties.x", "UTF-8"},
		{"too deep", func(e *events.Event) { e.Properties = deep }, "properties.k.k.k.k.k.k.k", "deeper than 5"},
		{"too many keys", func(e *events.Event) { e.Properties = manyKeys }, "properties", "at most 256 property keys"},
		{"long string", func(e *events.Event) { e.Properties = map[string]any{"x": strings.Repeat("s", 8<<10+1)} }, "properties.x", "longer than 8192"},
		// identity's running budget stops the walk where the values pass the limit...
		{"properties over 32 KiB", func(e *events.Event) { e.Properties = bigProps }, "properties.k4", "properties of one event must encode to at most 32768 bytes"},
		// ...and the exact encoded size, keys and ids included, catches what the budget misses.
		{"event over 32 KiB with keys", func(e *events.Event) { e.Properties = longKeys }, "properties", "an event must be at most 32768 bytes stored"},
		{"unsupported type", func(e *events.Event) { e.Properties = map[string]any{"x": int64(1)} }, "properties.x", "unsupported"},
		// A user's key that happens to contain identity's wording is reported as sent.
		{"key text kept", func(e *events.Event) { e.Properties = map[string]any{"trait key.": 1.0} }, "properties", `"trait key."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := valid()
			tt.edit(&in)
			got, err := events.Accept("proj", in, now)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Accept refused a valid event: %v", err)
				}
				return
			}
			var fe *identity.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("Accept = %+v, %v; want a field error on %s", got, err, tt.field)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("error = %q on %q; want field %q with reason containing %q", fe.Reason, fe.Field, tt.field, tt.reason)
			}
		})
	}
}

func TestAcceptFillsServerFields(t *testing.T) {
	t.Parallel()
	in := valid()
	in.ExternalID = "user-42"
	in.MessageID = ""
	got, err := events.Accept("proj", in, now)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ProjectID, want.DistinctID, want.ReceivedAt, want.Timestamp = "proj", "user-42", now, now
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(events.Event{}, "MessageID"), cmpopts.IgnoreUnexported(events.Event{})); diff != "" {
		t.Errorf("Accept (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.MessageID, events.ServerMessageIDPrefix) || len(got.MessageID) != 36 {
		t.Errorf("assigned message id %q; want srv_ and 32 hex digits", got.MessageID)
	}
	again, _ := events.Accept("proj", in, now)
	if again.MessageID == got.MessageID {
		t.Errorf("two events without a message id got the same one, %q: a retry without one must be a new event", got.MessageID)
	}

	in = valid()
	in.Timestamp = now.Add(-time.Hour)
	got, _ = events.Accept("proj", in, now)
	if got.DistinctID != "anon-1" || !got.Timestamp.Equal(now.Add(-time.Hour)) || got.MessageID != "msg-1" {
		t.Errorf("Accept = %+v; want the anonymous id as distinct id and the client's timestamp and message id kept", got)
	}
}

func TestAcceptBatch(t *testing.T) {
	t.Parallel()
	batch := func(n int) []events.Event {
		es := make([]events.Event, n)
		for i := range es {
			es[i] = valid()
			es[i].MessageID = "m" + strconv.Itoa(i)
		}
		return es
	}
	got, err := events.AcceptBatch("proj", batch(events.MaxBatchEvents), now)
	if err != nil || len(got) != events.MaxBatchEvents {
		t.Fatalf("AcceptBatch of %d events = %d, %v; want all accepted", events.MaxBatchEvents, len(got), err)
	}

	big := map[string]any{}
	for i := range 4 {
		big["k"+strconv.Itoa(i)] = strings.Repeat("x", 7000)
	}
	tests := []struct {
		name   string
		es     []events.Event
		field  string
		reason string
	}{
		{"too many", batch(events.MaxBatchEvents + 1), "events", "at most 500 events"},
		{"bad name at 3", func() []events.Event { es := batch(5); es[3].Name = ""; return es }(), "events[3].event", "required"},
		{"bad property at 2", func() []events.Event {
			es := batch(5)
			es[2].Properties = map[string]any{"x": map[string]any{"y": math.NaN()}}
			return es
		}(), "events[2].properties.x.y", "finite"},
		{"no ids at 0", func() []events.Event { es := batch(1); es[0].AnonymousID = ""; return es }(), "events[0].anonymousId", "at least one"},
		{"over the batch bytes", func() []events.Event {
			es := batch(20)
			for i := range es {
				es[i].Properties = big
			}
			return es
		}(), "events", "at most 524288 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := events.AcceptBatch("proj", tt.es, now)
			var fe *identity.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("AcceptBatch = %d events, %v; want a field error on %s", len(got), err, tt.field)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) || got != nil {
				t.Errorf("error %q on %q with %d events; want field %q, reason containing %q, no events", fe.Reason, fe.Field, len(got), tt.field, tt.reason)
			}
		})
	}
}

func TestEncodeProperties(t *testing.T) {
	t.Parallel()
	got, err := events.EncodeProperties(map[string]any{"b": "<a&b>", "a": []any{1.5, nil, true}, "c": map[string]any{"z": 1.0, "y": "é"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[1.5,null,true],"b":"<a&b>","c":{"y":"é","z":1}}`; string(got) != want {
		t.Errorf("EncodeProperties = %s; want %s (sorted keys, HTML left alone)", got, want)
	}
	if got, _ := events.EncodeProperties(nil); string(got) != "{}" {
		t.Errorf("EncodeProperties(nil) = %s; want {}", got)
	}
}

// FuzzAccept checks that Accept never panics, and that an accepted event encodes within the
// limit and is accepted again unchanged (idempotent validation).
func FuzzAccept(f *testing.F) {
	f.Add("Signed Up", "anon-1", "", "plan", "pro", "m1", int64(0))
	f.Add("", "", "user", "a.b", "\x00", "", int64(-1))
	f.Add("a\u200b", "undefined", "null", "$x", "\xff", strings.Repeat("m", 300), int64(1<<40))
	f.Fuzz(func(t *testing.T, name, anon, ext, key, value, msg string, ts int64) {
		in := events.Event{Name: name, AnonymousID: anon, ExternalID: ext, MessageID: msg,
			Properties: map[string]any{key: value}}
		if ts != 0 {
			in.Timestamp = time.Unix(ts, 0)
		}
		got, err := events.Accept("proj", in, now)
		if err != nil {
			var fe *identity.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("Accept error %v is not a field error", err)
			}
			return
		}
		props, err := events.EncodeProperties(got.Properties)
		if err != nil || len(props) > events.MaxEventBytes {
			t.Fatalf("accepted event encodes to %d bytes, %v", len(props), err)
		}
		if kept, err := got.EncodedProperties(); err != nil || !bytes.Equal(kept, props) {
			t.Fatalf("the encoding Accept kept, %s (%v), is not the properties' encoding %s", kept, err, props)
		}
		again, err := events.Accept("proj", got, now)
		if ignore := cmpopts.IgnoreUnexported(events.Event{}); err != nil || !cmp.Equal(got, again, ignore) {
			t.Fatalf("re-accepting an accepted event: %v, diff %s", err, cmp.Diff(got, again, ignore))
		}
	})
}

func benchEvent() events.Event {
	e := valid()
	e.Properties = map[string]any{
		"plan": "pro", "seats": 3.0, "trial": false, "path": "/pricing", "referrer": "https://example.com/a?b=c",
		"title": "Pricing — Example", "width": 1280.0, "height": 800.0, "tags": []any{"a", "b", "c"},
		"utm": map[string]any{"source": "newsletter", "medium": "email", "campaign": "spring"},
	}
	return e
}

// BenchmarkAccept measures validating one typical event (12 properties, one nested object).
func BenchmarkAccept(b *testing.B) {
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Accept("proj", e, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptBatch measures validating a full TrackBatch of typical events.
func BenchmarkAcceptBatch(b *testing.B) {
	es := make([]events.Event, events.MaxBatchEvents)
	for i := range es {
		es[i] = benchEvent()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.AcceptBatch("proj", es, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "events/s")
}
