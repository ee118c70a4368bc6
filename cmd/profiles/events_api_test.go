package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// TestEventsAPI pins issue 4's event behaviours through one real `profiles serve`: events count
// for whichever profile their distinct id joins (through the mapping, no row rewritten), history
// includes merged ids, Track's refusals and limits, and dedupe by message id.
func TestEventsAPI(t *testing.T) {
	t.Parallel()
	s := newAPIServer(t, nil)
	base := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	at := func(minute int) *timestamppb.Timestamp {
		return timestamppb.New(base.Add(time.Duration(minute) * time.Minute))
	}

	t.Run("anonymous events tracked before Identify count after it", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "anon-before")
		// Identify right after Track: it may run before or after the event worker has made the
		// anonymous profile; the events count for the user either way.
		p.trackBatch(
			&eventsv1.Event{Event: "Viewed", AnonymousId: "anon-a", MessageId: "a1"},
			&eventsv1.Event{Event: "Viewed", AnonymousId: "anon-a", MessageId: "a2"},
			&eventsv1.Event{Event: "Clicked", AnonymousId: "anon-a", MessageId: "a3"},
		)
		res := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-a", AnonymousId: "anon-a"})
		if res.Outcome != profilesv1.Outcome_OUTCOME_CREATED && res.Outcome != profilesv1.Outcome_OUTCOME_LINKED {
			t.Fatalf("Identify(user-a, anon-a) = %v, want CREATED or LINKED", res)
		}
		if got := p.waitEventCount(&profilesv1.GetRequest{ExternalId: "user-a"}, 3); got.Id != res.ProfileId {
			t.Errorf("Get(user-a) = %s, want %s", got.Id, res.ProfileId)
		}

		// An identified user with events of its own meets an anonymous profile with three more.
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-b"})
		p.track(&eventsv1.TrackRequest{Event: "Signed Up", ExternalId: "user-b", MessageId: "b1"})
		p.track(&eventsv1.TrackRequest{Event: "Paid", ExternalId: "user-b", MessageId: "b2"})
		for i := range 3 {
			p.track(&eventsv1.TrackRequest{Event: "Browsed", AnonymousId: "anon-b", MessageId: fmt.Sprintf("ab%d", i)})
		}
		userB := p.waitEventCount(&profilesv1.GetRequest{ExternalId: "user-b"}, 2)
		anonB := p.waitEventCount(&profilesv1.GetRequest{DistinctId: "anon-b"}, 3)
		if anonB.Id == userB.Id || anonB.ExternalId != "" {
			t.Fatalf("before Identify: user-b %v and anon-b %v, want two profiles, anon-b's anonymous", userB, anonB)
		}
		merged := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-b", AnonymousId: "anon-b"})
		if merged.Outcome != profilesv1.Outcome_OUTCOME_MERGED || merged.OtherProfileId != anonB.Id {
			t.Fatalf("Identify(user-b, anon-b) = %v, want MERGED of %s", merged, anonB.Id)
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "user-b"}); got.EventCount != 5 || got.Id != userB.Id {
			t.Errorf("Get(user-b) after the merge = %s with %d events, want %s with 5", got.Id, got.EventCount, userB.Id)
		}
	})

	t.Run("events of an aliased previous id count for the profile", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "alias-events")
		u := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
		p.trackBatch(
			&eventsv1.Event{Event: "Imported", AnonymousId: "legacy-1", MessageId: "l1"},
			&eventsv1.Event{Event: "Imported", AnonymousId: "legacy-1", MessageId: "l2"},
		)
		if res := p.alias(&profilesv1.AliasRequest{PreviousId: "legacy-1", ExternalId: "u"}); res.ProfileId != u.ProfileId {
			t.Fatalf("Alias(legacy-1 -> u) = %v, want u's profile %s", res, u.ProfileId)
		}
		p.waitEventCount(&profilesv1.GetRequest{ExternalId: "u"}, 2)
		// Later events of the old id, and events by external id, count too.
		p.track(&eventsv1.TrackRequest{Event: "Late", AnonymousId: "legacy-1", MessageId: "l3"})
		p.track(&eventsv1.TrackRequest{Event: "Own", ExternalId: "u", MessageId: "u1"})
		if got := p.waitEventCount(&profilesv1.GetRequest{DistinctId: "legacy-1"}, 4); got.Id != u.ProfileId {
			t.Errorf("Get(distinctId legacy-1) = %s, want u's %s", got.Id, u.ProfileId)
		}
	})

	t.Run("history includes merged ids, newest first, each event once across pages", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "history")
		// Timestamps interleave across the three ids, so the order must come from a merge sort.
		for i, id := range []string{"anon-a", "user", "anon-b", "anon-a", "user", "anon-b", "anon-a"} {
			ev := &eventsv1.TrackRequest{Event: fmt.Sprintf("e%d", i), MessageId: fmt.Sprintf("m%d", i), Timestamp: at(i), Properties: st(t, map[string]any{"i": i})}
			if id == "user" {
				ev.ExternalId = id
			} else {
				ev.AnonymousId = id
			}
			p.track(ev)
		}
		anonA := p.waitEventCount(&profilesv1.GetRequest{DistinctId: "anon-a"}, 3)
		anonB := p.waitEventCount(&profilesv1.GetRequest{DistinctId: "anon-b"}, 2)
		p.waitEventCount(&profilesv1.GetRequest{ExternalId: "user"}, 2)
		if res := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user", AnonymousId: "anon-a"}); res.Outcome != profilesv1.Outcome_OUTCOME_MERGED {
			t.Fatalf("Identify(user, anon-a) = %v, want MERGED", res)
		}
		if res := p.alias(&profilesv1.AliasRequest{PreviousId: "anon-b", ExternalId: "user"}); res.Outcome != profilesv1.Outcome_OUTCOME_MERGED {
			t.Fatalf("Alias(anon-b -> user) = %v, want MERGED", res)
		}
		want := []string{"e6 anon-a m6", "e5 anon-b m5", "e4 user m4", "e3 anon-a m3", "e2 anon-b m2", "e1 user m1", "e0 anon-a m0"}
		for _, req := range []*profilesv1.ListEventsRequest{{ExternalId: "user", PageSize: 2}, {ProfileId: anonA.Id, PageSize: 3}, {DistinctId: "anon-b", PageSize: 1}, {ProfileId: anonB.Id}} {
			var got []string
			events := p.history(req)
			for _, e := range events {
				got = append(got, e.Event+" "+e.DistinctId+" "+e.MessageId)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListEvents(%v) pages = %q, want %q (newest first, each once)", req, got, want)
			}
			if len(events) == len(want) && (!events[0].Timestamp.AsTime().Equal(base.Add(6*time.Minute)) || events[0].Properties.AsMap()["i"] != 6.0) {
				t.Errorf("newest event = %v, want timestamp %v and property i=6", events[0], base.Add(6*time.Minute))
			}
		}
		_, err := p.prof.ListEvents(bg, connect.NewRequest(&profilesv1.ListEventsRequest{ExternalId: "user", PageSize: 501}))
		wantErr(t, "ListEvents with pageSize 501", err, connect.CodeInvalidArgument, "pageSize")
		_, err = p.prof.ListEvents(bg, connect.NewRequest(&profilesv1.ListEventsRequest{ExternalId: "user", PageToken: "not-a-token"}))
		wantErr(t, "ListEvents with a made-up page token", err, connect.CodeInvalidArgument, "pageToken")
	})

	t.Run("track refusals name the field", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "track-errors")
		props := func(n, size int) map[string]any {
			m := map[string]any{}
			for i := range n {
				m[fmt.Sprintf("p%d", i)] = strings.Repeat("x", size)
			}
			return m
		}
		for _, c := range []struct {
			name  string
			req   *eventsv1.TrackRequest
			field string
		}{
			{"no event name", &eventsv1.TrackRequest{AnonymousId: "a"}, "event"},
			{"blank event name", &eventsv1.TrackRequest{Event: "   ", AnonymousId: "a"}, "event"},
			{"event name over 200 bytes", &eventsv1.TrackRequest{Event: strings.Repeat("e", 201), AnonymousId: "a"}, "event"},
			{"control character in the name", &eventsv1.TrackRequest{Event: "a\nb", AnonymousId: "a"}, "event"},
			{"no id", &eventsv1.TrackRequest{Event: "x"}, "anonymousId"},
			{"junk anonymous id", &eventsv1.TrackRequest{Event: "x", AnonymousId: "undefined"}, "anonymousId"},
			{"junk external id", &eventsv1.TrackRequest{Event: "x", ExternalId: "null"}, "externalId"},
			{"message id over 200 bytes", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", MessageId: strings.Repeat("m", 201)}, "messageId"},
			{"timestamp before 2000", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Timestamp: timestamppb.New(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC))}, "timestamp"},
			{"timestamp a day ahead", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Timestamp: timestamppb.New(time.Now().Add(25 * time.Hour))}, "timestamp"},
			{"'.' in a property key", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Properties: st(t, map[string]any{"a.b": 1})}, "properties"},
			{"NUL in a property", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Properties: st(t, map[string]any{"q": "a\x00b"})}, "properties.q"},
			{"property value over 8 KiB", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Properties: st(t, props(1, 8<<10+1))}, "properties.p0"},
			{"event over 32 KiB", &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Properties: st(t, props(5, 8000))}, "properties"},
		} {
			_, err := p.ev.Track(bg, connect.NewRequest(c.req))
			wantErr(t, "Track with "+c.name, err, connect.CodeInvalidArgument, c.field)
		}
	})

	t.Run("batch limits: 500 events, 512 KiB, all or nothing", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "batch")
		batch := func(n int, id string) []*eventsv1.Event {
			es := make([]*eventsv1.Event, n)
			for i := range es {
				es[i] = &eventsv1.Event{Event: "x", AnonymousId: id, MessageId: fmt.Sprintf("%s-%d", id, i)}
			}
			return es
		}
		refuse := func(what string, events []*eventsv1.Event, field string) {
			t.Helper()
			_, err := p.ev.TrackBatch(bg, connect.NewRequest(&eventsv1.TrackBatchRequest{Events: events}))
			wantErr(t, what, err, connect.CodeInvalidArgument, field)
		}
		refuse("TrackBatch of 501 events", batch(501, "refused"), "events")
		bad := batch(4, "refused")
		bad[2].Event = ""
		refuse("TrackBatch with an unnamed event at index 2", bad, "events[2].event")
		bad = batch(4, "refused")
		bad[1].AnonymousId = ""
		refuse("TrackBatch with an event without ids at index 1", bad, "events[1].anonymousId")
		heavy := batch(20, "refused")
		for _, e := range heavy {
			e.Properties = st(t, map[string]any{"a": strings.Repeat("x", 7500), "b": strings.Repeat("y", 7500), "c": strings.Repeat("z", 7500), "d": strings.Repeat("w", 7500)})
		}
		refuse("TrackBatch of 20 events of 30 KB (over 512 KiB stored)", heavy, "events")

		if n := p.trackBatch(batch(500, "full")...); n != 500 {
			t.Errorf("TrackBatch of 500 events accepted %d, want 500", n)
		}
		p.waitEventCount(&profilesv1.GetRequest{DistinctId: "full"}, 500)
		// The refused batches were sent before the accepted one and stored nothing.
		_, err := p.get(&profilesv1.GetRequest{DistinctId: "refused"})
		wantErr(t, "Get of the id only refused batches carried", err, connect.CodeNotFound, "")
	})

	t.Run("a message id is stored once", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "dedupe")
		u := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
		p.track(&eventsv1.TrackRequest{Event: "Paid", ExternalId: "u", MessageId: "same", Timestamp: at(1)})
		p.waitEventCount(&profilesv1.GetRequest{ExternalId: "u"}, 1)
		// A retry of "same" and a new event in one request reach ClickHouse in one insert, so
		// once the new event counts, a wrongly kept copy would count too.
		if n := p.trackBatch(
			&eventsv1.Event{Event: "Paid", ExternalId: "u", MessageId: "same", Timestamp: at(1)},
			&eventsv1.Event{Event: "Paid", ExternalId: "u", MessageId: "same", Timestamp: at(1)},
			&eventsv1.Event{Event: "Refunded", ExternalId: "u", MessageId: "other", Timestamp: at(2)},
		); n != 3 {
			t.Errorf("TrackBatch accepted %d, want 3 (duplicates included)", n)
		}
		got := p.waitProfile("the new event counted", &profilesv1.GetRequest{ExternalId: "u"}, func(pr *profilesv1.Profile) bool { return pr.EventCount >= 2 })
		if got.EventCount != 2 || got.Id != u.ProfileId {
			t.Errorf("eventCount = %d, want 2: four copies of one message id count once", got.EventCount)
		}
		var ids []string
		for _, e := range p.history(&profilesv1.ListEventsRequest{ExternalId: "u"}) {
			ids = append(ids, e.MessageId)
		}
		if !slices.Equal(ids, []string{"other", "same"}) {
			t.Errorf("history message ids = %v, want [other same]: each message id once", ids)
		}
	})

	t.Run("non-finite property values are refused, not stored as strings", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "nan-events")
		_, err := p.ev.Track(bg, connect.NewRequest(&eventsv1.TrackRequest{Event: "x", AnonymousId: "a", Properties: st(t, map[string]any{"n": math.Inf(1)})}))
		wantErr(t, "Track with an infinite property", err, connect.CodeInvalidArgument, "properties.n")
	})
}
