package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// TestEventsAndReads pins issue 4's behaviours through a real serve: events counted through
// the mapping, history, Get by any id, delete and restore, and Track's refusals.
func TestEventsAndReads(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()

	t.Run("events of an aliased previous id count for the profile", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "alias-events")
		u := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u"})
		tn.track(t, &eventsv1.TrackRequest{Event: "Imported", AnonymousId: "legacy-1", MessageId: "e1"})
		if _, err := tn.alias(t, &profilesv1.AliasRequest{PreviousId: "legacy-1", ExternalId: "u"}); err != nil {
			t.Fatal(err)
		}
		tn.waitGet(t, "the aliased id's event on u", &profilesv1.GetRequest{ExternalId: "u"}, func(p *profilesv1.Profile) bool {
			return p.Id == u.ProfileId && p.EventCount == 1
		})
	})

	t.Run("history includes merged ids, newest first, paged once each", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "history")
		base := time.Now().Add(-time.Hour).Truncate(time.Second)
		tn.track(t, &eventsv1.TrackRequest{Event: "e1", AnonymousId: "anon", MessageId: "m1", Timestamp: timestamppb.New(base)})
		tn.track(t, &eventsv1.TrackRequest{Event: "e2", AnonymousId: "anon", MessageId: "m2", Timestamp: timestamppb.New(base.Add(time.Minute))})
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u"})
		tn.track(t, &eventsv1.TrackRequest{Event: "e3", ExternalId: "u", MessageId: "m3", Timestamp: timestamppb.New(base.Add(2 * time.Minute))})
		tn.waitGet(t, "the anonymous profile", &profilesv1.GetRequest{DistinctId: "anon"}, func(p *profilesv1.Profile) bool { return p.EventCount == 2 })
		if res := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", AnonymousId: "anon"}); res.Outcome != profilesv1.Outcome_OUTCOME_MERGED {
			t.Fatalf("Identify = %v, want MERGED", res)
		}
		tn.waitGet(t, "3 events on u", &profilesv1.GetRequest{ExternalId: "u"}, func(p *profilesv1.Profile) bool { return p.EventCount == 3 })
		var names []string
		token := ""
		for range 5 {
			res, err := tn.prof.ListEvents(ctx, connect.NewRequest(&profilesv1.ListEventsRequest{ExternalId: "u", PageSize: 1, PageToken: token}))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Msg.Events {
				names = append(names, e.Event)
			}
			if token = res.Msg.NextPageToken; token == "" {
				break
			}
		}
		if strings.Join(names, ",") != "e3,e2,e1" {
			t.Errorf("history pages = %v, want e3,e2,e1 each once", names)
		}
	})

	t.Run("a message id is counted once", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "dedupe")
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u"})
		for range 3 {
			tn.track(t, &eventsv1.TrackRequest{Event: "Paid", ExternalId: "u", MessageId: "same"})
		}
		tn.track(t, &eventsv1.TrackRequest{Event: "Paid", ExternalId: "u", MessageId: "other"})
		p := tn.waitGet(t, "two distinct events", &profilesv1.GetRequest{ExternalId: "u"}, func(p *profilesv1.Profile) bool { return p.EventCount >= 2 })
		time.Sleep(300 * time.Millisecond) // give a wrongly counted duplicate time to show
		if p = tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"}); p.EventCount != 2 {
			t.Errorf("eventCount = %d, want 2 (three copies of one message id count once)", p.EventCount)
		}
	})

	t.Run("track refusals name the field", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "track-errors")
		_, err := tn.ev.Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{Event: "", AnonymousId: "a"}))
		wantCode(t, err, connect.CodeInvalidArgument, "event")
		_, err = tn.ev.Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{Event: "x"}))
		wantCode(t, err, connect.CodeInvalidArgument, "anonymousId")
		_, err = tn.ev.Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{Event: "x", AnonymousId: "undefined"}))
		wantCode(t, err, connect.CodeInvalidArgument, "anonymousId")
		batch := &eventsv1.TrackBatchRequest{}
		for range 501 {
			batch.Events = append(batch.Events, &eventsv1.Event{Event: "x", AnonymousId: "a"})
		}
		_, err = tn.ev.TrackBatch(ctx, connect.NewRequest(batch))
		wantCode(t, err, connect.CodeInvalidArgument, "events")
		batch.Events = batch.Events[:3]
		batch.Events[2] = &eventsv1.Event{Event: "x", AnonymousId: "a", Properties: &structpb.Struct{Fields: map[string]*structpb.Value{"a.b": structpb.NewNumberValue(1)}}}
		_, err = tn.ev.TrackBatch(ctx, connect.NewRequest(batch))
		wantCode(t, err, connect.CodeInvalidArgument, "events[2]")
	})

	t.Run("get by any id; delete hides, keeps events; restore; later identify", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "delete")
		u := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", AnonymousId: "a", Traits: traits(t, map[string]any{"email": "u@example.com"})})
		noEvents := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"})
		if noEvents.FirstSeen == nil || noEvents.LastSeen == nil || noEvents.EventCount != 0 {
			t.Fatalf("profile without events = %v, want firstSeen/lastSeen from its creation", noEvents)
		}
		tn.track(t, &eventsv1.TrackRequest{Event: "x", AnonymousId: "a", MessageId: "m"})
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "u"}, {ProfileId: u.ProfileId}, {DistinctId: "a"}} {
			tn.waitGet(t, fmt.Sprintf("Get(%v)", req), req, func(p *profilesv1.Profile) bool { return p.Id == u.ProfileId && p.EventCount == 1 })
		}
		if _, err := tn.prof.Delete(ctx, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "u"})); err != nil {
			t.Fatal(err)
		}
		_, err := tn.get(t, &profilesv1.GetRequest{ExternalId: "u"})
		wantCode(t, err, connect.CodeNotFound, "")
		list, err := tn.prof.List(ctx, connect.NewRequest(&profilesv1.ListRequest{Query: "u@example.com"}))
		if err != nil || list.Msg.Total != 0 {
			t.Fatalf("List after delete = %v, %v; want nothing", list, err)
		}
		res, err := tn.prof.Restore(ctx, connect.NewRequest(&profilesv1.RestoreRequest{ProfileId: u.ProfileId}))
		if err != nil || res.Msg.Profile.EventCount != 1 {
			t.Fatalf("Restore = %v, %v; want the profile back with its event", res, err)
		}
		if _, err := tn.prof.Delete(ctx, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "u"})); err != nil {
			t.Fatal(err)
		}
		again := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u"})
		if again.ProfileId == u.ProfileId || again.Outcome != profilesv1.Outcome_OUTCOME_CREATED {
			t.Fatalf("Identify after delete = %v, want a new profile", again)
		}
		_, err = tn.prof.Restore(ctx, connect.NewRequest(&profilesv1.RestoreRequest{ProfileId: u.ProfileId}))
		wantCode(t, err, connect.CodeFailedPrecondition, "external id")
	})
}

// TestList pins List: free-text query, each filter operator, paging, hidden profiles.
func TestList(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	tn := s.tenant(t, "list")
	people := []map[string]any{
		{"email": "Ann@Example.com", "plan": "pro", "age": 41, "tags": []any{"beta", "vip"}, "signup": "2026-01-10T00:00:00Z", "city": "Lyon"},
		{"email": "bob@example.com", "plan": "free", "age": 29, "tags": []any{"beta"}, "signup": "2026-03-01T12:00:00Z"},
		{"email": "cy@corp.io", "plan": "pro", "age": "unknown", "signup": "not a date", "nested": map[string]any{"city": "Paris"}},
	}
	for i, tr := range people {
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("person-%d", i), Traits: traits(t, tr)})
	}
	list := func(req *profilesv1.ListRequest) []string {
		t.Helper()
		res, err := tn.prof.List(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatalf("List(%v): %v", req, err)
		}
		var ids []string
		for _, p := range res.Msg.Profiles {
			ids = append(ids, p.ExternalId)
		}
		if int(res.Msg.Total) != len(ids) {
			t.Fatalf("List(%v): total %d for %d profiles", req, res.Msg.Total, len(ids))
		}
		return ids
	}
	filter := func(key string, op profilesv1.TraitFilter_Op, v any) *profilesv1.ListRequest {
		var val *structpb.Value
		if v != nil {
			val, _ = structpb.NewValue(v)
		}
		return &profilesv1.ListRequest{Filters: []*profilesv1.TraitFilter{{Key: key, Op: op, Value: val}}}
	}
	for name, c := range map[string]struct {
		req  *profilesv1.ListRequest
		want string
	}{
		"query by external id":          {&profilesv1.ListRequest{Query: "PERSON-1"}, "person-1"},
		"query by email":                {&profilesv1.ListRequest{Query: "ann@example.com"}, "person-0"},
		"query by a custom trait":       {&profilesv1.ListRequest{Query: "lyon"}, "person-0"},
		"eq":                            {filter("plan", profilesv1.TraitFilter_OP_EQ, "free"), "person-1"},
		"neq":                           {filter("plan", profilesv1.TraitFilter_OP_NEQ, "pro"), "person-1"},
		"contains string":               {filter("email", profilesv1.TraitFilter_OP_CONTAINS, "CORP"), "person-2"},
		"contains array element":        {filter("tags", profilesv1.TraitFilter_OP_CONTAINS, "vip"), "person-0"},
		"exists":                        {filter("city", profilesv1.TraitFilter_OP_EXISTS, nil), "person-0"},
		"not exists":                    {filter("tags", profilesv1.TraitFilter_OP_NOT_EXISTS, nil), "person-2"},
		"gt number skips a string":      {filter("age", profilesv1.TraitFilter_OP_GT, 30), "person-0"},
		"lte number":                    {filter("age", profilesv1.TraitFilter_OP_LTE, 29), "person-1"},
		"lt time skips a non-time":      {filter("signup", profilesv1.TraitFilter_OP_LT, "2026-02-01T00:00:00Z"), "person-0"},
		"gte time":                      {filter("signup", profilesv1.TraitFilter_OP_GTE, "2026-02-01T00:00:00Z"), "person-1"},
		"nested key":                    {filter("nested.city", profilesv1.TraitFilter_OP_EQ, "Paris"), "person-2"},
		"number filter on string trait": {filter("email", profilesv1.TraitFilter_OP_GT, 5), ""},
	} {
		if got := strings.Join(list(c.req), ","); got != c.want {
			t.Errorf("%s: got [%s], want [%s]", name, got, c.want)
		}
	}
	_, err := tn.prof.List(ctx, connect.NewRequest(filter("age", profilesv1.TraitFilter_OP_GT, true)))
	wantCode(t, err, connect.CodeInvalidArgument, "filters[0]")
	_, err = tn.prof.List(ctx, connect.NewRequest(&profilesv1.ListRequest{Limit: 5000}))
	wantCode(t, err, connect.CodeInvalidArgument, "limit")
}

// TestListPaging pages through 1,000 profiles by offset and by token: each once, total exact;
// deleted and merged-away profiles never appear.
func TestListPaging(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	tn := s.tenant(t, "paging")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 1000; i += 16 {
				if _, err := tn.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("p%04d", i)})); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Hidden: one deleted, one merged away (two identified profiles merged explicitly).
	tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "gone"})
	if _, err := tn.prof.Delete(ctx, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "gone"})); err != nil {
		t.Fatal(err)
	}
	tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "loser"})
	if _, err := tn.alias(t, &profilesv1.AliasRequest{PreviousId: "loser", ExternalId: "p0000", AllowIdentifiedMerge: true}); err != nil {
		t.Fatal(err)
	}

	seen := map[string]int{}
	for offset := 0; ; offset += 97 {
		res, err := tn.prof.List(ctx, connect.NewRequest(&profilesv1.ListRequest{Limit: 97, Offset: int32(offset)}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.Total != 1000 {
			t.Fatalf("total = %d, want 1000 (deleted and merged hidden)", res.Msg.Total)
		}
		if len(res.Msg.Profiles) == 0 {
			break
		}
		for _, p := range res.Msg.Profiles {
			seen[p.ExternalId]++
		}
	}
	byToken := map[string]int{}
	token := ""
	for page := 0; page < 20; page++ {
		res, err := tn.prof.List(ctx, connect.NewRequest(&profilesv1.ListRequest{Limit: 128, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Msg.Profiles {
			byToken[p.ExternalId]++
		}
		if token = res.Msg.NextPageToken; token == "" {
			break
		}
	}
	for name, got := range map[string]map[string]int{"offset": seen, "token": byToken} {
		if len(got) != 1000 {
			t.Errorf("paging by %s visited %d profiles, want 1000", name, len(got))
		}
		for id, n := range got {
			if n != 1 || id == "gone" || id == "loser" {
				t.Errorf("paging by %s: %s seen %d times", name, id, n)
			}
		}
	}
}
