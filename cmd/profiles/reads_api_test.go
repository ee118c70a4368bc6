package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// TestReadsAPI pins ProfilesService's reads and edits through one real `profiles serve`: Get by
// any id, merged-away ids, delete and restore, List's query, filters and paging, overrides, and
// firstSeen/lastSeen.
func TestReadsAPI(t *testing.T) {
	t.Parallel()
	s := newAPIServer(t, nil)

	t.Run("get by external id, profile id or distinct id", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "get")
		u := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", AnonymousId: "a"})
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "u"}, {ProfileId: u.ProfileId}, {DistinctId: "a"}, {DistinctId: "u"}} {
			if got := p.mustGet(req); got.Id != u.ProfileId {
				t.Errorf("Get(%s) = %s, want %s", lookupString(req), got.Id, u.ProfileId)
			}
		}
		for _, c := range []struct {
			req   *profilesv1.GetRequest
			code  connect.Code
			field string
		}{
			{&profilesv1.GetRequest{}, connect.CodeInvalidArgument, "externalId"},
			{&profilesv1.GetRequest{ExternalId: "u", ProfileId: u.ProfileId}, connect.CodeInvalidArgument, "profileId"},
			{&profilesv1.GetRequest{ExternalId: "undefined"}, connect.CodeInvalidArgument, "externalId"},
			{&profilesv1.GetRequest{DistinctId: "null"}, connect.CodeInvalidArgument, "distinctId"},
			{&profilesv1.GetRequest{ExternalId: "nobody"}, connect.CodeNotFound, ""},
			{&profilesv1.GetRequest{ProfileId: "prof_0000000000000000000000000"}, connect.CodeNotFound, ""},
			{&profilesv1.GetRequest{DistinctId: "never-seen"}, connect.CodeNotFound, ""},
		} {
			_, err := p.get(c.req)
			wantErr(t, fmt.Sprintf("Get(%v)", c.req), err, c.code, c.field)
		}
	})

	t.Run("a merged-away id finds the winner", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "merged-get")
		x := p.identify(&profilesv1.IdentifyRequest{ExternalId: "x", AnonymousId: "ax"})
		y := p.identify(&profilesv1.IdentifyRequest{ExternalId: "y", AnonymousId: "ay"})
		p.alias(&profilesv1.AliasRequest{PreviousId: "y", ExternalId: "x", AllowIdentifiedMerge: true})
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "y"}, {ProfileId: y.ProfileId}, {DistinctId: "ay"}, {DistinctId: "y"}} {
			if got := p.mustGet(req); got.Id != x.ProfileId || got.ExternalId != "x" {
				t.Errorf("Get(%s) = %s (%q), want the winner %s (x)", lookupString(req), got.Id, got.ExternalId, x.ProfileId)
			}
		}
		if ids := p.listExternalIDs(&profilesv1.ListRequest{}); !slices.Equal(ids, []string{"x"}) {
			t.Errorf("List = %v, want only the winner x", ids)
		}
	})

	t.Run("delete hides the profile and keeps its events; restore brings both back", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "delete")
		u := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", AnonymousId: "a", Traits: st(t, map[string]any{"email": "u@example.com"})})
		p.track(&eventsv1.TrackRequest{Event: "x", AnonymousId: "a", MessageId: "m1"})
		p.track(&eventsv1.TrackRequest{Event: "y", ExternalId: "u", MessageId: "m2"})
		p.waitEventCount(&profilesv1.GetRequest{ExternalId: "u"}, 2)

		del, err := p.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "u"}))
		if err != nil || del.Msg.ProfileId != u.ProfileId {
			t.Fatalf("Delete(u) = %v, %v; want %s", del, err, u.ProfileId)
		}
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "u"}, {ProfileId: u.ProfileId}, {DistinctId: "a"}} {
			_, err := p.get(req)
			wantErr(t, "Get("+lookupString(req)+") of a deleted profile", err, connect.CodeNotFound, "")
		}
		for _, req := range []*profilesv1.ListRequest{{}, {Query: "u@example.com"}, {Filters: []*profilesv1.TraitFilter{{Key: "email", Op: profilesv1.TraitFilter_OP_EXISTS}}}} {
			if res := p.list(req); res.Total != 0 || len(res.Profiles) != 0 {
				t.Errorf("List(%v) after Delete = total %d %v, want nothing", req, res.Total, externalIDs(res.Profiles))
			}
		}
		_, err = p.prof.ListEvents(bg, connect.NewRequest(&profilesv1.ListEventsRequest{ExternalId: "u"}))
		wantErr(t, "ListEvents of a deleted profile", err, connect.CodeNotFound, "")
		_, err = p.prof.SetTraitOverrides(bg, connect.NewRequest(&profilesv1.SetTraitOverridesRequest{ProfileId: u.ProfileId, Traits: st(t, map[string]any{"x": 1})}))
		wantErr(t, "SetTraitOverrides on a deleted profile", err, connect.CodeNotFound, "")
		if again, err := p.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ProfileId: u.ProfileId})); err != nil || again.Msg.ProfileId != u.ProfileId {
			t.Errorf("second Delete = %v, %v; want the same id again", again, err)
		}

		res, err := p.prof.Restore(bg, connect.NewRequest(&profilesv1.RestoreRequest{ProfileId: u.ProfileId}))
		if err != nil || res.Msg.Profile.GetId() != u.ProfileId || res.Msg.Profile.GetEventCount() != 2 {
			t.Fatalf("Restore = %v, %v; want %s back with its 2 events", res, err, u.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{DistinctId: "a"}); got.Id != u.ProfileId || got.EventCount != 2 || traitsOf(got)["email"] != "u@example.com" {
			t.Errorf("Get(distinctId a) after Restore = %v, want %s with its traits and 2 events", got, u.ProfileId)
		}
		if ids := p.listExternalIDs(&profilesv1.ListRequest{Query: "u@example.com"}); !slices.Equal(ids, []string{"u"}) {
			t.Errorf("List query after Restore = %v, want [u]", ids)
		}
		if again, err := p.prof.Restore(bg, connect.NewRequest(&profilesv1.RestoreRequest{ExternalId: "u"})); err != nil || again.Msg.Profile.GetId() != u.ProfileId {
			t.Errorf("Restore of a live profile = %v, %v; want a no-op answering it", again, err)
		}
	})

	t.Run("identify after delete starts a new profile; the old one cannot be restored over it", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "reidentify")
		old := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", AnonymousId: "a", Traits: st(t, map[string]any{"plan": "pro"})})
		if _, err := p.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "u"})); err != nil {
			t.Fatal(err)
		}
		fresh := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
		if fresh.Outcome != profilesv1.Outcome_OUTCOME_CREATED || fresh.ProfileId == old.ProfileId {
			t.Fatalf("Identify(u) after Delete = %v, want CREATED with a new id (not %s)", fresh, old.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}); got.Id != fresh.ProfileId || len(traitsOf(got)) != 0 {
			t.Errorf("Get(u) = %v, want the new profile %s without the deleted one's traits", got, fresh.ProfileId)
		}
		_, err := p.prof.Restore(bg, connect.NewRequest(&profilesv1.RestoreRequest{ProfileId: old.ProfileId}))
		wantErr(t, "Restore of the old profile while u belongs to a new one", err, connect.CodeFailedPrecondition, "external id")
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}); got.Id != fresh.ProfileId {
			t.Errorf("after the refused Restore Get(u) = %s, want %s", got.Id, fresh.ProfileId)
		}
		_, err = p.get(&profilesv1.GetRequest{ProfileId: old.ProfileId})
		wantErr(t, "Get of the old profile after the refused Restore", err, connect.CodeNotFound, "")
		// Once the new profile is deleted too, the old one can come back and owns u again.
		if _, err := p.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ProfileId: fresh.ProfileId})); err != nil {
			t.Fatal(err)
		}
		if _, err := p.prof.Restore(bg, connect.NewRequest(&profilesv1.RestoreRequest{ProfileId: old.ProfileId})); err != nil {
			t.Fatalf("Restore of the old profile after the new one was deleted: %v", err)
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}); got.Id != old.ProfileId || traitsOf(got)["plan"] != "pro" {
			t.Errorf("Get(u) after restoring the old profile = %v, want %s with plan pro", got, old.ProfileId)
		}
	})

	t.Run("list query searches external id, email and trait values ignoring case", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "query")
		for i, tr := range []map[string]any{
			{"email": "Ann@Example.com", "company": "Acme Inc", "city": "Lyon"},
			{"email": "bob@example.com", "city": "Paris", "note": "100% real_data"},
			{"email": "cy@corp.io", "nickname": "LYONNAIS"},
			{"email": "xann@example.com", "work_email": "cy@corp.io"},
		} {
			p.identify(&profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("Person-%d", i), Traits: st(t, tr)})
		}
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"person-1", []string{"Person-1"}},
			{"PERSON", []string{"Person-0", "Person-1", "Person-2", "Person-3"}},
			// A whole address is looked up exactly in the email trait and the external id:
			// not xann@example.com, and not an address held by another trait.
			{"ann@example.com", []string{"Person-0"}},
			{"BOB@EXAMPLE.COM", []string{"Person-1"}},
			{"cy@corp.io", []string{"Person-2"}},
			{"nn@example.com", nil},
			// Less than an address is a substring, of every trait value.
			{"ann@example", []string{"Person-0", "Person-3"}},
			{"@corp.io", []string{"Person-2", "Person-3"}},
			{"example.com", []string{"Person-0", "Person-1", "Person-3"}},
			{"acme", []string{"Person-0"}},
			{"lyon", []string{"Person-0", "Person-2"}},
			{"  paris  ", []string{"Person-1"}},
			{"100%", []string{"Person-1"}},
			{"%", []string{"Person-1"}},
			{"e_l", nil}, // "_" is no wildcard: it would match "real"
			{"nobody", nil},
		} {
			got := p.listExternalIDs(&profilesv1.ListRequest{Query: c.query})
			if !slices.Equal(got, c.want) {
				t.Errorf("List(query %q) = %v, want %v", c.query, got, c.want)
			}
		}
		_, err := p.prof.List(bg, connect.NewRequest(&profilesv1.ListRequest{Query: strings.Repeat("q", 201)}))
		wantErr(t, "List with a 201-byte query", err, connect.CodeInvalidArgument, "query")
	})

	t.Run("each filter operator, type mismatches and refusals", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "filters")
		for i, tr := range []map[string]any{
			{"plan": "pro", "age": 41, "tags": []any{"beta", "vip"}, "signup": "2026-01-10T00:00:00Z", "score": "50", "addr": map[string]any{"city": "Lyon"}, "active": true},
			{"plan": "free", "age": 29, "tags": []any{"beta"}, "signup": "2026-03-01T12:00:00+02:00", "active": false, "ref": nil},
			{"plan": "Pro", "age": "unknown", "signup": "2026-02-01", "addr": map[string]any{"city": "Paris"}},
		} {
			p.identify(&profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("p%d", i), Traits: st(t, tr)})
		}
		f := func(key string, op profilesv1.TraitFilter_Op, v any) *profilesv1.TraitFilter {
			tf := &profilesv1.TraitFilter{Key: key, Op: op}
			if v != nil {
				val, err := structpb.NewValue(v)
				if err != nil {
					t.Fatal(err)
				}
				tf.Value = val
			}
			return tf
		}
		const (
			eq, neq, contains                = profilesv1.TraitFilter_OP_EQ, profilesv1.TraitFilter_OP_NEQ, profilesv1.TraitFilter_OP_CONTAINS
			exists, notExists                = profilesv1.TraitFilter_OP_EXISTS, profilesv1.TraitFilter_OP_NOT_EXISTS
			gt, gte, lt, lte                 = profilesv1.TraitFilter_OP_GT, profilesv1.TraitFilter_OP_GTE, profilesv1.TraitFilter_OP_LT, profilesv1.TraitFilter_OP_LTE
			unspecified                      = profilesv1.TraitFilter_OP_UNSPECIFIED
			march1Before, march1After, feb15 = "2026-03-01T09:30:00Z", "2026-03-01T10:30:00Z", "2026-02-15T00:00:00Z"
		)
		null := structpb.NewNullValue()
		for _, c := range []struct {
			name    string
			filters []*profilesv1.TraitFilter
			want    []string
		}{
			{"eq string, exact case", []*profilesv1.TraitFilter{f("plan", eq, "pro")}, []string{"p0"}},
			{"eq number", []*profilesv1.TraitFilter{f("age", eq, 41)}, []string{"p0"}},
			{"eq bool", []*profilesv1.TraitFilter{f("active", eq, false)}, []string{"p1"}},
			{"eq null", []*profilesv1.TraitFilter{{Key: "ref", Op: eq, Value: null}}, []string{"p1"}},
			{"eq scalar never matches an array", []*profilesv1.TraitFilter{f("tags", eq, "beta")}, nil},
			{"eq nested key", []*profilesv1.TraitFilter{f("addr.city", eq, "Paris")}, []string{"p2"}},
			{"neq, absent included", []*profilesv1.TraitFilter{f("active", neq, true)}, []string{"p1", "p2"}},
			{"contains string ignoring case", []*profilesv1.TraitFilter{f("plan", contains, "PR")}, []string{"p0", "p2"}},
			{"contains array element", []*profilesv1.TraitFilter{f("tags", contains, "vip")}, []string{"p0"}},
			{"contains array element, exact", []*profilesv1.TraitFilter{f("tags", contains, "VIP")}, nil},
			{"exists, null included", []*profilesv1.TraitFilter{f("ref", exists, nil)}, []string{"p1"}},
			{"exists nested", []*profilesv1.TraitFilter{f("addr.city", exists, nil)}, []string{"p0", "p2"}},
			{"not exists", []*profilesv1.TraitFilter{f("tags", notExists, nil)}, []string{"p2"}},
			{"gt number skips a string trait", []*profilesv1.TraitFilter{f("age", gt, 30)}, []string{"p0"}},
			{"gte number", []*profilesv1.TraitFilter{f("age", gte, 29)}, []string{"p0", "p1"}},
			{"lt number", []*profilesv1.TraitFilter{f("age", lt, 41)}, []string{"p1"}},
			{"lte number", []*profilesv1.TraitFilter{f("age", lte, 41)}, []string{"p0", "p1"}},
			{"number filter on a numeric string trait", []*profilesv1.TraitFilter{f("score", gt, 10)}, nil},
			{"number filter on a string trait", []*profilesv1.TraitFilter{f("plan", gt, 5)}, nil},
			{"lt time skips a date without offset", []*profilesv1.TraitFilter{f("signup", lt, feb15)}, []string{"p0"}},
			{"gte time", []*profilesv1.TraitFilter{f("signup", gte, feb15)}, []string{"p1"}},
			{"gt time compares instants, not text", []*profilesv1.TraitFilter{f("signup", gt, march1After)}, nil},
			{"gt time before the instant", []*profilesv1.TraitFilter{f("signup", gt, march1Before)}, []string{"p1"}},
			{"time filter on a number trait", []*profilesv1.TraitFilter{f("age", gt, feb15)}, nil},
			{"filters combine with AND", []*profilesv1.TraitFilter{f("plan", contains, "pro"), f("age", gt, 30)}, []string{"p0"}},
		} {
			if got := p.listExternalIDs(&profilesv1.ListRequest{Filters: c.filters}); !slices.Equal(got, c.want) {
				t.Errorf("List filter %s = %v, want %v", c.name, got, c.want)
			}
		}
		ok := f("plan", exists, nil)
		for _, c := range []struct {
			name    string
			filters []*profilesv1.TraitFilter
			field   string
		}{
			{"gt with a bool", []*profilesv1.TraitFilter{ok, f("age", gt, true)}, "filters[1].value"},
			{"gt with a string that is no time", []*profilesv1.TraitFilter{f("signup", gt, "yesterday")}, "filters[0].value"},
			{"exists with a value", []*profilesv1.TraitFilter{ok, f("plan", exists, "x")}, "filters[1].value"},
			{"eq with a list", []*profilesv1.TraitFilter{f("tags", eq, []any{"beta"})}, "filters[0].value"},
			{"contains with an object", []*profilesv1.TraitFilter{f("addr", contains, map[string]any{"city": "Lyon"})}, "filters[0].value"},
			{"eq with NaN", []*profilesv1.TraitFilter{{Key: "age", Op: eq, Value: structpb.NewNumberValue(math.NaN())}}, "filters[0].value"},
			{"lt with infinity", []*profilesv1.TraitFilter{{Key: "age", Op: lt, Value: structpb.NewNumberValue(math.Inf(1))}}, "filters[0].value"},
			{"no operator", []*profilesv1.TraitFilter{f("plan", unspecified, "pro")}, "filters[0].op"},
			{"empty key", []*profilesv1.TraitFilter{ok, ok, f("", eq, "pro")}, "filters[2].key"},
			{"too many filters", slices.Repeat([]*profilesv1.TraitFilter{ok}, 21), "filters"},
		} {
			_, err := p.prof.List(bg, connect.NewRequest(&profilesv1.ListRequest{Filters: c.filters}))
			wantErr(t, "List filter "+c.name, err, connect.CodeInvalidArgument, c.field)
		}
	})

	t.Run("paging through 1,000 profiles by offset and by token visits each once", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "paging")
		const n = 1000
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < n; i += 16 {
					if err := p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("p%04d", i), Traits: st(t, map[string]any{"n": i})}); err != nil {
						errs <- fmt.Errorf("Identify(p%04d): %w", i, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Hidden: a deleted profile, and one merged away into p0000.
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "deleted"})
		if _, err := p.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ExternalId: "deleted"})); err != nil {
			t.Fatal(err)
		}
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "loser"})
		p.alias(&profilesv1.AliasRequest{PreviousId: "loser", ExternalId: "p0000", AllowIdentifiedMerge: true})

		check := func(how string, pages [][]*profilesv1.Profile) {
			t.Helper()
			seen := map[string]int{}
			var ids []string
			for _, page := range pages {
				for _, pr := range page {
					seen[pr.ExternalId]++
					ids = append(ids, pr.Id)
				}
			}
			if len(seen) != n || len(ids) != n {
				t.Errorf("paging by %s: %d profiles, %d distinct, want %d each once", how, len(ids), len(seen), n)
			}
			for id, k := range seen {
				if k != 1 || id == "deleted" || id == "loser" {
					t.Errorf("paging by %s: %q seen %d times, want live profiles once", how, id, k)
				}
			}
			if !slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) {
				t.Errorf("paging by %s: profile ids not in the documented order (newest id first)", how)
			}
		}

		var byOffset [][]*profilesv1.Profile
		for offset := 0; offset <= n; offset += 100 {
			res := p.list(&profilesv1.ListRequest{Limit: 100, Offset: int32(offset)})
			if res.Total != n {
				t.Fatalf("List(offset %d) total = %d, want %d (deleted and merged hidden)", offset, res.Total, n)
			}
			if want := min(100, n-offset); len(res.Profiles) != want {
				t.Errorf("List(offset %d) = %d profiles, want %d", offset, len(res.Profiles), want)
			}
			byOffset = append(byOffset, res.Profiles)
		}
		check("offset", byOffset)

		var byToken [][]*profilesv1.Profile
		req := &profilesv1.ListRequest{Limit: 128}
		for page := 0; ; page++ {
			if page > n/128+1 {
				t.Fatalf("paging by token did not end after %d pages", page)
			}
			res := p.list(req)
			if res.Total != n {
				t.Fatalf("List(token page %d) total = %d, want %d", page, res.Total, n)
			}
			byToken = append(byToken, res.Profiles)
			if res.NextPageToken == "" {
				break
			}
			req.PageToken = res.NextPageToken
		}
		check("token", byToken)

		if res := p.list(&profilesv1.ListRequest{}); len(res.Profiles) != 50 || res.Total != n || res.NextPageToken == "" {
			t.Errorf("List without a limit: %d profiles, total %d, token %q; want the default 50 of %d and a next token", len(res.Profiles), res.Total, res.NextPageToken, n)
		}
		first := p.list(&profilesv1.ListRequest{Limit: 10})
		for _, c := range []struct {
			req   *profilesv1.ListRequest
			field string
		}{
			{&profilesv1.ListRequest{Limit: 1001}, "limit"},
			{&profilesv1.ListRequest{Limit: -1}, "limit"},
			{&profilesv1.ListRequest{Offset: -1}, "offset"},
			{&profilesv1.ListRequest{Offset: 100_001}, "offset"},
			{&profilesv1.ListRequest{Limit: 10, Query: "p0", PageToken: first.NextPageToken}, "pageToken"},
			{&profilesv1.ListRequest{PageToken: "garbage"}, "pageToken"},
		} {
			_, err := p.prof.List(bg, connect.NewRequest(c.req))
			wantErr(t, fmt.Sprintf("List(%v)", c.req), err, connect.CodeInvalidArgument, c.field)
		}
	})

	t.Run("overrides show in Get and List and can be removed", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "overrides")
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "free"})})
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "v", Traits: st(t, map[string]any{"plan": "free"})})
		p.setOverrides(&profilesv1.SetTraitOverridesRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "enterprise", "vip": true})})
		planIs := func(v string) *profilesv1.ListRequest {
			return &profilesv1.ListRequest{Filters: []*profilesv1.TraitFilter{{Key: "plan", Op: profilesv1.TraitFilter_OP_EQ, Value: structpb.NewStringValue(v)}}}
		}
		if got := traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})); got["plan"] != "enterprise" || got["vip"] != true {
			t.Errorf("Get(u) traits = %v, want the overrides plan enterprise and vip", got)
		}
		if got := p.listExternalIDs(planIs("enterprise")); !slices.Equal(got, []string{"u"}) {
			t.Errorf("List plan = enterprise: %v, want [u]", got)
		}
		if got := p.listExternalIDs(planIs("free")); !slices.Equal(got, []string{"v"}) {
			t.Errorf("List plan = free: %v, want [v]: u's override hides its SDK value", got)
		}
		if got := p.listExternalIDs(&profilesv1.ListRequest{Query: "ENTERPRISE"}); !slices.Equal(got, []string{"u"}) {
			t.Errorf("List query ENTERPRISE: %v, want [u]", got)
		}
		if page := p.list(&profilesv1.ListRequest{Query: "enterprise"}); len(page.Profiles) == 1 && traitsOf(page.Profiles[0])["plan"] != "enterprise" {
			t.Errorf("List shows u's traits %v, want the override applied", traitsOf(page.Profiles[0]))
		}
		if _, err := p.prof.RemoveTraitOverrides(bg, connect.NewRequest(&profilesv1.RemoveTraitOverridesRequest{ExternalId: "u", Keys: []string{"plan", "vip"}})); err != nil {
			t.Fatalf("RemoveTraitOverrides: %v", err)
		}
		if got := traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})); got["plan"] != "free" || got["vip"] != nil {
			t.Errorf("Get(u) traits after removing the overrides = %v, want plan free and no vip", got)
		}
		if got := p.listExternalIDs(planIs("free")); !slices.Equal(got, []string{"u", "v"}) {
			t.Errorf("List plan = free after the removal: %v, want [u v]", got)
		}
		if got := p.listExternalIDs(&profilesv1.ListRequest{Query: "enterprise"}); len(got) != 0 {
			t.Errorf("List query enterprise after the removal: %v, want none", got)
		}
	})

	t.Run("a large answer is gzipped for a client that accepts it, and a gzipped request is read", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "gzip")
		for i := range 20 {
			p.identify(&profilesv1.IdentifyRequest{ExternalId: fmt.Sprintf("g%02d", i), Traits: st(t, map[string]any{"bio": strings.Repeat("lorem ipsum ", 20)})})
		}
		var body bytes.Buffer
		zw := gzip.NewWriter(&body) // the standard library's, as other clients have it
		zw.Write([]byte(`{"limit": 20}`))
		zw.Close()
		// Connect answers in the request's encoding: a plain request asks for a plain answer.
		for _, accept := range []string{"gzip", "identity"} {
			req, _ := http.NewRequest(http.MethodPost, p.base+profilesv1connect.ProfilesServiceListProcedure, strings.NewReader(`{"limit": 20}`))
			if accept == "gzip" {
				req.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
				req.ContentLength = int64(body.Len())
				req.Header.Set("Content-Encoding", "gzip")
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept-Encoding", accept) // set by hand, so the transport leaves the answer as it came
			req.Header.Set("Authorization", "Bearer "+p.keys.SecretKey)
			resp, err := httpClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); resp.StatusCode != http.StatusOK || (got == "gzip") != (accept == "gzip") {
				t.Fatalf("Accept-Encoding %s: status %d, Content-Encoding %q: %s", accept, resp.StatusCode, got, raw)
			}
			if accept == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatalf("the gzipped answer does not decompress: %v", err)
				}
			}
			var res struct {
				Profiles []struct{ ExternalID string }
				Total    int
			}
			if err := json.Unmarshal(raw, &res); err != nil || len(res.Profiles) != 20 || res.Total != 20 {
				t.Errorf("Accept-Encoding %s: %d profiles, total %d (%v); want all 20", accept, len(res.Profiles), res.Total, err)
			}
		}
	})

	t.Run("firstSeen and lastSeen: creation and update without events, event times after", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "seen")
		const slack = 2 * time.Second
		before := time.Now()
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
		after := time.Now()
		created := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})
		first, last := created.FirstSeen.AsTime(), created.LastSeen.AsTime()
		if first.Before(before.Add(-slack)) || first.After(after.Add(slack)) || !last.Equal(first) || created.EventCount != 0 {
			t.Fatalf("new profile without events: firstSeen %v lastSeen %v count %d; want both its creation time (between %v and %v)", first, last, created.EventCount, before, after)
		}
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "pro"})})
		updated := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})
		if !updated.FirstSeen.AsTime().Equal(first) || !updated.LastSeen.AsTime().After(last) {
			t.Errorf("after an update: firstSeen %v lastSeen %v; want firstSeen %v kept and lastSeen later than %v", updated.FirstSeen.AsTime(), updated.LastSeen.AsTime(), first, last)
		}
		past := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
		future := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)
		p.track(&eventsv1.TrackRequest{Event: "old", ExternalId: "u", MessageId: "m1", Timestamp: timestamppb.New(past)})
		p.track(&eventsv1.TrackRequest{Event: "new", ExternalId: "u", MessageId: "m2", Timestamp: timestamppb.New(future)})
		got := p.waitEventCount(&profilesv1.GetRequest{ExternalId: "u"}, 2)
		if !got.FirstSeen.AsTime().Equal(past) || !got.LastSeen.AsTime().Equal(future) {
			t.Errorf("after events: firstSeen %v lastSeen %v; want the event times %v and %v", got.FirstSeen.AsTime(), got.LastSeen.AsTime(), past, future)
		}
	})
}
