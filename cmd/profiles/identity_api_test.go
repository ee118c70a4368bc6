package main

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// identityMaxRequestBytes is the serve's PROFILES_MAX_REQUEST_BYTES in TestIdentityAPI.
const identityMaxRequestBytes = 256 << 10

// TestIdentityAPI pins every identity rule of SPEC.md and every refusal of Identify and Alias
// (code and field) through one real `profiles serve`, each case in its own project.
func TestIdentityAPI(t *testing.T) {
	t.Parallel()
	s := newAPIServer(t, map[string]string{"PROFILES_MAX_REQUEST_BYTES": fmt.Sprint(identityMaxRequestBytes)})

	t.Run("unknown external id creates a profile owning both ids", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "create")
		res := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-123", AnonymousId: "anon-123", Traits: st(t, map[string]any{"email": "user@example.com", "plan": "pro"})})
		if !strings.HasPrefix(res.ProfileId, "prof_") || res.Outcome != profilesv1.Outcome_OUTCOME_CREATED || res.OtherProfileId != "" || res.Replayed {
			t.Fatalf("Identify of a new user = %v, want a prof_ id, CREATED, no other profile, not replayed", res)
		}
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "user-123"}, {ProfileId: res.ProfileId}, {DistinctId: "anon-123"}, {DistinctId: "user-123"}} {
			got := p.mustGet(req)
			if got.Id != res.ProfileId || got.ExternalId != "user-123" {
				t.Errorf("Get(%s) = %s (externalId %q), want %s of user-123", lookupString(req), got.Id, got.ExternalId, res.ProfileId)
			}
		}
		if diff := cmp.Diff(map[string]any{"email": "user@example.com", "plan": "pro"}, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "user-123"}))); diff != "" {
			t.Errorf("traits of the new profile (-want +got):\n%s", diff)
		}
		if again := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-123"}); again.ProfileId != res.ProfileId || again.Outcome != profilesv1.Outcome_OUTCOME_UPDATED {
			t.Errorf("second Identify of user-123 = %v, want UPDATED on %s", again, res.ProfileId)
		}
	})

	t.Run("anonymous profile becomes identified", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "link")
		p.track(&eventsv1.TrackRequest{Event: "Viewed Pricing", AnonymousId: "anon-1", MessageId: "ev-1"})
		anon := p.waitProfile("the anonymous profile that Track creates", &profilesv1.GetRequest{DistinctId: "anon-1"},
			func(pr *profilesv1.Profile) bool { return pr.EventCount == 1 })
		if anon.ExternalId != "" {
			t.Fatalf("the profile Track made = %v, want anonymous (no externalId)", anon)
		}
		res := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-1", AnonymousId: "anon-1"})
		if res.Outcome != profilesv1.Outcome_OUTCOME_LINKED || res.ProfileId != anon.Id {
			t.Fatalf("Identify(user-1, anon-1) = %v, want LINKED on the anonymous profile %s", res, anon.Id)
		}
		got := p.mustGet(&profilesv1.GetRequest{ExternalId: "user-1"})
		if got.Id != anon.Id || got.ExternalId != "user-1" || got.EventCount != 1 {
			t.Errorf("Get(user-1) = %v, want %s identified as user-1 with the anonymous event", got, anon.Id)
		}
	})

	t.Run("anonymous profile merges into the identified one", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "merge")
		known := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-2", Traits: st(t, map[string]any{"plan": "pro"})})
		p.setOverrides(&profilesv1.SetTraitOverridesRequest{ExternalId: "user-2", Traits: st(t, map[string]any{"tier": "gold"})})
		p.track(&eventsv1.TrackRequest{Event: "Opened App", AnonymousId: "anon-2", MessageId: "ev-2"})
		anon := p.waitProfile("the anonymous profile of anon-2", &profilesv1.GetRequest{DistinctId: "anon-2"},
			func(pr *profilesv1.Profile) bool { return pr.EventCount == 1 })
		// The anonymous profile's only traits can come from a server-side edit.
		p.setOverrides(&profilesv1.SetTraitOverridesRequest{DistinctId: "anon-2", Traits: st(t, map[string]any{"tier": "bronze", "ref": "ad"})})

		res := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-2", AnonymousId: "anon-2"})
		if res.Outcome != profilesv1.Outcome_OUTCOME_MERGED || res.ProfileId != known.ProfileId || res.OtherProfileId != anon.Id {
			t.Fatalf("Identify(user-2, anon-2) = %v, want MERGED of %s into %s", res, anon.Id, known.ProfileId)
		}
		for _, req := range []*profilesv1.GetRequest{{ProfileId: anon.Id}, {DistinctId: "anon-2"}, {ExternalId: "user-2"}} {
			got := p.mustGet(req)
			if got.Id != known.ProfileId || got.EventCount != 1 {
				t.Errorf("Get(%s) = %s with %d events, want the winner %s with the anonymous event", lookupString(req), got.Id, got.EventCount, known.ProfileId)
			}
		}
		want := map[string]any{"plan": "pro", "tier": "gold", "ref": "ad"}
		if diff := cmp.Diff(want, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "user-2"}))); diff != "" {
			t.Errorf("traits after the merge: the winner's values win, the loser's fill the rest (-want +got):\n%s", diff)
		}
	})

	t.Run("shared computer: two identified users are not merged", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "shared")
		bob := p.identify(&profilesv1.IdentifyRequest{ExternalId: "bob", AnonymousId: "browser-1", Traits: st(t, map[string]any{"name": "Bob"})})
		ann := p.identify(&profilesv1.IdentifyRequest{ExternalId: "ann", AnonymousId: "browser-1", Traits: st(t, map[string]any{"name": "Ann"})})
		if ann.Outcome != profilesv1.Outcome_OUTCOME_NOT_MERGED_BOTH_IDENTIFIED || ann.OtherProfileId != bob.ProfileId || ann.ProfileId == bob.ProfileId {
			t.Fatalf("Identify(ann, browser-1) = %v, want NOT_MERGED_BOTH_IDENTIFIED with its own profile beside bob's %s", ann, bob.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "bob"}); got.Id != bob.ProfileId || traitsOf(got)["name"] != "Bob" {
			t.Errorf("Get(bob) = %v, want %s untouched (name Bob)", got, bob.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "ann"}); got.Id != ann.ProfileId || traitsOf(got)["name"] != "Ann" {
			t.Errorf("Get(ann) = %v, want %s with name Ann", got, ann.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{DistinctId: "browser-1"}); got.Id != bob.ProfileId {
			t.Errorf("Get(distinctId browser-1) = %s, want it still bob's %s", got.Id, bob.ProfileId)
		}
	})

	t.Run("traits merge key by key and are never removed", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "traits")
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"a": 1, "b": "two", "nested": map[string]any{"x": 1}})})
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"b": "three", "c": true})})
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
		want := map[string]any{"a": 1.0, "b": "three", "c": true, "nested": map[string]any{"x": 1.0}}
		if diff := cmp.Diff(want, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}))); diff != "" {
			t.Errorf("traits after three Identify calls (-want +got):\n%s", diff)
		}
	})

	t.Run("setOnce sets only absent keys; unset removes", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "setonce")
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"first_plan": "free", "old": 1})})
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "pro"}),
			SetOnce: st(t, map[string]any{"first_plan": "pro", "signup": "2026-01-01T00:00:00Z"}), Unset: []string{"old", "never-set"}})
		want := map[string]any{"first_plan": "free", "plan": "pro", "signup": "2026-01-01T00:00:00Z"}
		if diff := cmp.Diff(want, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}))); diff != "" {
			t.Errorf("traits after setOnce and unset (-want +got):\n%s", diff)
		}
		err := p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "x"}), Unset: []string{"plan"}})
		wantErr(t, "Identify that sets and unsets one key", err, connect.CodeInvalidArgument, "unset")
	})

	t.Run("an override wins over SDK traits until removed", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "overrides")
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "free", "seats": 1})})
		set := p.setOverrides(&profilesv1.SetTraitOverridesRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "enterprise"})})
		if got := traitsOf(set)["plan"]; got != "enterprise" {
			t.Errorf("SetTraitOverrides answered plan %v, want enterprise", got)
		}
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "pro", "seats": 5})})
		if diff := cmp.Diff(map[string]any{"plan": "enterprise", "seats": 5.0}, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}))); diff != "" {
			t.Errorf("traits with an override after an SDK write (-want +got):\n%s", diff)
		}
		if _, err := p.prof.RemoveTraitOverrides(bg, connect.NewRequest(&profilesv1.RemoveTraitOverridesRequest{ExternalId: "u", Keys: []string{"plan"}})); err != nil {
			t.Fatalf("RemoveTraitOverrides(plan): %v", err)
		}
		if got := traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}))["plan"]; got != "pro" {
			t.Errorf("plan after removing the override = %v, want the SDK's pro", got)
		}
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", Traits: st(t, map[string]any{"plan": "team"})})
		if got := traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "u"}))["plan"]; got != "team" {
			t.Errorf("plan after a later Identify = %v, want team: the removed override no longer wins", got)
		}
		_, err := p.prof.SetTraitOverrides(bg, connect.NewRequest(&profilesv1.SetTraitOverridesRequest{ExternalId: "u", Traits: st(t, map[string]any{"$set": 1})}))
		wantErr(t, "SetTraitOverrides with a '$' key", err, connect.CodeInvalidArgument, "traits")
		_, err = p.prof.RemoveTraitOverrides(bg, connect.NewRequest(&profilesv1.RemoveTraitOverridesRequest{ExternalId: "u"}))
		wantErr(t, "RemoveTraitOverrides without keys", err, connect.CodeInvalidArgument, "keys")
	})

	t.Run("alias links an unknown previous id", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "alias")
		u := p.identify(&profilesv1.IdentifyRequest{ExternalId: "user-123"})
		res := p.alias(&profilesv1.AliasRequest{PreviousId: "anonymous-abc", ExternalId: "user-123"})
		if res.ProfileId != u.ProfileId || res.Outcome != profilesv1.Outcome_OUTCOME_LINKED {
			t.Fatalf("Alias(anonymous-abc -> user-123) = %v, want LINKED to %s", res, u.ProfileId)
		}
		if got := p.mustGet(&profilesv1.GetRequest{DistinctId: "anonymous-abc"}); got.Id != u.ProfileId {
			t.Errorf("Get(distinctId anonymous-abc) = %s, want user-123's %s", got.Id, u.ProfileId)
		}
		// An import: neither id known yet; one new profile owns both.
		imp := p.alias(&profilesv1.AliasRequest{PreviousId: "legacy-42", ExternalId: "user-42"})
		if imp.Outcome != profilesv1.Outcome_OUTCOME_CREATED {
			t.Fatalf("Alias of two unknown ids = %v, want CREATED", imp)
		}
		if got := p.mustGet(&profilesv1.GetRequest{DistinctId: "legacy-42"}); got.Id != imp.ProfileId || got.ExternalId != "user-42" {
			t.Errorf("Get(distinctId legacy-42) = %v, want %s of user-42", got, imp.ProfileId)
		}
	})

	t.Run("merging two identified profiles is refused unless asked for", func(t *testing.T) {
		t.Parallel()
		p, other := s.project(t, "identified"), s.project(t, "identified-other")
		// Another project with the same external ids: nothing of it may leak into the refusal.
		oa := other.identify(&profilesv1.IdentifyRequest{ExternalId: "a"})
		ob := other.identify(&profilesv1.IdentifyRequest{ExternalId: "b"})
		a := p.identify(&profilesv1.IdentifyRequest{ExternalId: "a", Traits: st(t, map[string]any{"plan": "pro", "a_only": 1})})
		b := p.identify(&profilesv1.IdentifyRequest{ExternalId: "b", Traits: st(t, map[string]any{"plan": "free", "b_only": 2})})

		err := p.aliasErr(&profilesv1.AliasRequest{PreviousId: "b", ExternalId: "a"})
		wantErr(t, "Alias(b -> a) of two identified profiles", err, connect.CodeFailedPrecondition, "allowIdentifiedMerge")
		if err != nil {
			for _, leak := range []string{other.keys.ProjectID, oa.ProfileId, ob.ProfileId} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the refusal %q names %s of another project", err, leak)
				}
			}
		}
		if got := p.mustGet(&profilesv1.GetRequest{ExternalId: "b"}); got.Id != b.ProfileId {
			t.Fatalf("after the refusal Get(b) = %s, want b's own %s", got.Id, b.ProfileId)
		}

		res := p.alias(&profilesv1.AliasRequest{PreviousId: "b", ExternalId: "a", AllowIdentifiedMerge: true})
		if res.Outcome != profilesv1.Outcome_OUTCOME_MERGED || res.ProfileId != a.ProfileId || res.OtherProfileId != b.ProfileId {
			t.Fatalf("Alias(b -> a, allowIdentifiedMerge) = %v, want MERGED of %s into %s", res, b.ProfileId, a.ProfileId)
		}
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "b"}, {ProfileId: b.ProfileId}, {DistinctId: "b"}} {
			if got := p.mustGet(req); got.Id != a.ProfileId || got.ExternalId != "a" {
				t.Errorf("Get(%s) = %s (externalId %q), want the winner %s (a)", lookupString(req), got.Id, got.ExternalId, a.ProfileId)
			}
		}
		want := map[string]any{"plan": "pro", "a_only": 1.0, "b_only": 2.0}
		if diff := cmp.Diff(want, traitsOf(p.mustGet(&profilesv1.GetRequest{ExternalId: "a"}))); diff != "" {
			t.Errorf("traits after merging b into a (-want +got):\n%s", diff)
		}
		if got := other.mustGet(&profilesv1.GetRequest{ExternalId: "b"}); got.Id != ob.ProfileId {
			t.Errorf("the other project's b moved to %s", got.Id)
		}
	})

	t.Run("junk ids are refused naming the field", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "junk")
		junk := []string{"", "   ", strings.Repeat("x", 201), "a\x01b", "tab\there", "undefined", "null", "anonymous", "[object Object]", "NaN", "0", "guest", "NULL", "Undefined"}
		for _, id := range junk {
			wantErr(t, fmt.Sprintf("Identify(externalId %q)", id), p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: id}), connect.CodeInvalidArgument, "externalId")
			if id != "" { // anonymousId is optional
				wantErr(t, fmt.Sprintf("Identify(anonymousId %q)", id), p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: "ok-user", AnonymousId: id}), connect.CodeInvalidArgument, "anonymousId")
			}
			wantErr(t, fmt.Sprintf("Alias(previousId %q)", id), p.aliasErr(&profilesv1.AliasRequest{PreviousId: id, ExternalId: "ok-user"}), connect.CodeInvalidArgument, "previousId")
			wantErr(t, fmt.Sprintf("Alias(externalId %q)", id), p.aliasErr(&profilesv1.AliasRequest{PreviousId: "ok-anon", ExternalId: id}), connect.CodeInvalidArgument, "externalId")
		}
		// An id of exactly 200 bytes is fine.
		p.identify(&profilesv1.IdentifyRequest{ExternalId: strings.Repeat("y", 200)})
		if res := p.list(&profilesv1.ListRequest{}); res.Total != 1 {
			t.Errorf("List after the refusals: total %d (%v), want only the 200-byte id's profile", res.Total, externalIDs(res.Profiles))
		}
	})

	t.Run("trait limits are refused naming the field", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "limits")
		many := map[string]any{}
		for i := range 257 {
			many[fmt.Sprintf("k%03d", i)] = i
		}
		deep := map[string]any{"v": 1}
		for range 7 {
			deep = map[string]any{"d": deep}
		}
		bulky := map[string]any{}
		for i := range 10 {
			bulky[fmt.Sprintf("b%d", i)] = strings.Repeat("x", 8000)
		}
		for _, c := range []struct {
			name  string
			req   *profilesv1.IdentifyRequest
			field string
		}{
			{"too many traits", &profilesv1.IdentifyRequest{Traits: st(t, many)}, "traits"},
			{"key too long", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{strings.Repeat("k", 129): 1})}, "traits"},
			{"value too large", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"bio": strings.Repeat("x", 8<<10+1)})}, "traits.bio"},
			{"all values too large together", &profilesv1.IdentifyRequest{Traits: st(t, bulky)}, "traits"},
			{"nested too deep", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"d": deep})}, "traits.d"},
			{"'.' in a key", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"a.b": 1})}, "traits"},
			{"'$' in a key", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"$set": 1})}, "traits"},
			{"'.' in a nested key", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"addr": map[string]any{"x.y": 1}})}, "traits.addr"},
			{"NUL in a value", &profilesv1.IdentifyRequest{Traits: st(t, map[string]any{"name": "a\x00b"})}, "traits.name"},
			{"'$' in a setOnce key", &profilesv1.IdentifyRequest{SetOnce: st(t, map[string]any{"$x": 1})}, "setOnce"},
			{"'.' in an unset key", &profilesv1.IdentifyRequest{Unset: []string{"a.b"}}, "unset"},
			{"messageId too long", &profilesv1.IdentifyRequest{MessageId: strings.Repeat("m", 201)}, "messageId"},
		} {
			c.req.ExternalId = "limits-user"
			wantErr(t, c.name, p.identifyErr(c.req), connect.CodeInvalidArgument, c.field)
		}
		_, err := p.get(&profilesv1.GetRequest{ExternalId: "limits-user"})
		wantErr(t, "Get after only refused writes", err, connect.CodeNotFound, "")
	})

	t.Run("non-finite numbers are refused, not stored as strings", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "nan")
		for name, v := range map[string]float64{"NaN": math.NaN(), "+Inf": math.Inf(1), "-Inf": math.Inf(-1)} {
			err := p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: "nan-user", Traits: st(t, map[string]any{"n": v})})
			wantErr(t, "Identify with the trait value "+name, err, connect.CodeInvalidArgument, "traits.n")
		}
		p.identify(&profilesv1.IdentifyRequest{ExternalId: "override-user"})
		_, err := p.prof.SetTraitOverrides(bg, connect.NewRequest(&profilesv1.SetTraitOverridesRequest{ExternalId: "override-user", Traits: st(t, map[string]any{"n": math.Inf(1)})}))
		wantErr(t, "SetTraitOverrides with an infinite value", err, connect.CodeInvalidArgument, "traits.n")
		if got, err := p.get(&profilesv1.GetRequest{ExternalId: "nan-user"}); err == nil {
			t.Errorf("refused writes created a profile with traits %v", traitsOf(got))
		}
	})

	t.Run("a request over PROFILES_MAX_REQUEST_BYTES is resource_exhausted", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "size")
		big := strings.Repeat("x", identityMaxRequestBytes+1)
		err := p.identifyErr(&profilesv1.IdentifyRequest{ExternalId: "big", Traits: st(t, map[string]any{"a": big})})
		wantErr(t, "Identify of a request over the limit", err, connect.CodeResourceExhausted, "")
		status, body := postJSON(t, p.base, profilesv1connect.ProfilesSDKServiceIdentifyProcedure, p.keys.SDKKey, fmt.Sprintf(`{"externalId":"big","traits":{"a":%q}}`, big))
		if body["code"] != "resource_exhausted" {
			t.Errorf("JSON Identify over the limit: %d %v, want code resource_exhausted", status, body)
		}
		_, err = p.get(&profilesv1.GetRequest{ExternalId: "big"})
		wantErr(t, "Get after refused oversize requests", err, connect.CodeNotFound, "")
	})

	t.Run("a retried message id changes nothing", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "idempotent")
		first := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", MessageId: "m1", Traits: st(t, map[string]any{"n": 1})})
		before := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})
		for _, retry := range []*profilesv1.IdentifyRequest{
			{ExternalId: "u", MessageId: "m1", Traits: st(t, map[string]any{"n": 1})},
			{ExternalId: "u", MessageId: "m1", Traits: st(t, map[string]any{"n": 2, "extra": true}), AnonymousId: "anon-late"},
		} {
			again := p.identify(retry)
			if !again.Replayed || again.ProfileId != first.ProfileId || again.Outcome != first.Outcome {
				t.Errorf("retry of m1 = %v, want a replay of %v", again, first)
			}
		}
		after := p.mustGet(&profilesv1.GetRequest{ExternalId: "u"})
		if diff := cmp.Diff(traitsOf(before), traitsOf(after)); diff != "" || !after.LastSeen.AsTime().Equal(before.LastSeen.AsTime()) {
			t.Errorf("replays changed the profile: lastSeen %v -> %v, traits (-before +after):\n%s", before.LastSeen.AsTime(), after.LastSeen.AsTime(), diff)
		}
		_, err := p.get(&profilesv1.GetRequest{DistinctId: "anon-late"})
		wantErr(t, "Get of an id only a replayed request carried", err, connect.CodeNotFound, "")

		al := p.alias(&profilesv1.AliasRequest{PreviousId: "legacy", ExternalId: "u", MessageId: "a1"})
		if again := p.alias(&profilesv1.AliasRequest{PreviousId: "legacy", ExternalId: "u", MessageId: "a1"}); !again.Replayed || again.ProfileId != al.ProfileId || again.Outcome != al.Outcome {
			t.Errorf("retried Alias = %v, want a replay of %v", again, al)
		}
		if fresh := p.identify(&profilesv1.IdentifyRequest{ExternalId: "u", MessageId: "m2"}); fresh.Replayed {
			t.Errorf("Identify with a new message id = %v, want not replayed", fresh)
		}
	})

	t.Run("tenancy: another project finds nothing and changes nothing", func(t *testing.T) {
		t.Parallel()
		a, b := s.project(t, "tenant-a"), s.project(t, "tenant-b")
		pa := a.identify(&profilesv1.IdentifyRequest{ExternalId: "shared-id", MessageId: "msg-1", Traits: st(t, map[string]any{"owner": "a"})})
		for _, req := range []*profilesv1.GetRequest{{ExternalId: "shared-id"}, {ProfileId: pa.ProfileId}, {DistinctId: "shared-id"}} {
			_, err := b.get(req)
			wantErr(t, "B's Get("+lookupString(req)+") of A's profile", err, connect.CodeNotFound, "")
		}
		_, err := b.prof.Delete(bg, connect.NewRequest(&profilesv1.DeleteRequest{ProfileId: pa.ProfileId}))
		wantErr(t, "B's Delete of A's profile", err, connect.CodeNotFound, "")
		_, err = b.prof.SetTraitOverrides(bg, connect.NewRequest(&profilesv1.SetTraitOverridesRequest{ExternalId: "shared-id", Traits: st(t, map[string]any{"owner": "b"})}))
		wantErr(t, "B's SetTraitOverrides on A's external id", err, connect.CodeNotFound, "")
		_, err = b.prof.ListEvents(bg, connect.NewRequest(&profilesv1.ListEventsRequest{ProfileId: pa.ProfileId}))
		wantErr(t, "B's ListEvents of A's profile", err, connect.CodeNotFound, "")

		// Same external id and message id in B: B's own new profile, not a replay of A's answer.
		pb := b.identify(&profilesv1.IdentifyRequest{ExternalId: "shared-id", MessageId: "msg-1", Traits: st(t, map[string]any{"owner": "b"})})
		if pb.ProfileId == pa.ProfileId || pb.Outcome != profilesv1.Outcome_OUTCOME_CREATED || pb.Replayed {
			t.Fatalf("B's Identify(shared-id) = %v, want its own new profile (CREATED, not replayed)", pb)
		}
		got := a.mustGet(&profilesv1.GetRequest{ExternalId: "shared-id"})
		if got.Id != pa.ProfileId || !maps.Equal(traitsOf(got), map[string]any{"owner": "a"}) {
			t.Errorf("A's profile after B's writes = %v, want %s with owner a only", got, pa.ProfileId)
		}
	})

	t.Run("the page's raw JSON", func(t *testing.T) {
		t.Parallel()
		p := s.project(t, "raw")
		// The request body exactly as the API page shows it.
		status, res := postJSON(t, p.base, "/profiles.v1.ProfilesSDKService/Identify", p.keys.SDKKey,
			`{ "externalId": "user-123", "traits": { "email": "user@example.com", "plan": "pro", "company": "Acme Inc" } }`)
		id, _ := res["profileId"].(string)
		if status != 200 || !strings.HasPrefix(id, "prof_") {
			t.Fatalf("Identify with the page's JSON: %d %v, want 200 with a profileId starting prof_", status, res)
		}
		status, res = postJSON(t, p.base, "/profiles.v1.ProfilesService/Get", p.keys.SecretKey, `{ "externalId": "user-123" }`)
		prof, _ := res["profile"].(map[string]any)
		if status != 200 || prof == nil {
			t.Fatalf("Get with the page's JSON: %d %v, want 200 with a profile", status, res)
		}
		if prof["id"] != id || prof["externalId"] != "user-123" {
			t.Errorf("Get JSON id/externalId = %v/%v, want %s/user-123", prof["id"], prof["externalId"], id)
		}
		if diff := cmp.Diff(map[string]any{"email": "user@example.com", "plan": "pro", "company": "Acme Inc"}, prof["traits"]); diff != "" {
			t.Errorf("Get JSON traits (-want +got):\n%s", diff)
		}
		for _, k := range []string{"firstSeen", "lastSeen"} {
			s, _ := prof[k].(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("Get JSON %s = %#v, want an RFC 3339 time: %v", k, prof[k], err)
			}
		}
		if n, ok := prof["eventCount"].(float64); !ok || n != 0 {
			t.Errorf("Get JSON eventCount = %#v, want the JSON number 0", prof["eventCount"])
		}
		status, res = postJSON(t, p.base, "/profiles.v1.ProfilesService/List", p.keys.SecretKey, `{ "query": "user@example.com", "limit": 50, "offset": 0 }`)
		if total, ok := res["total"].(float64); status != 200 || !ok || total != 1 {
			t.Errorf("List with the page's JSON: %d, total %#v, want 200 and the JSON number 1", status, res["total"])
		}
		if list, _ := res["profiles"].([]any); len(list) != 1 {
			t.Errorf("List JSON profiles = %v, want one", res["profiles"])
		}
		// The page's error table: invalid_argument for an empty external id, not_found after a delete.
		if status, res = postJSON(t, p.base, "/profiles.v1.ProfilesSDKService/Identify", p.keys.SDKKey, `{ "externalId": "" }`); status != 400 || res["code"] != "invalid_argument" {
			t.Errorf("Identify JSON with an empty externalId: %d %v, want 400 invalid_argument", status, res)
		}
		if status, res = postJSON(t, p.base, "/profiles.v1.ProfilesService/Delete", p.keys.SecretKey, `{ "externalId": "user-123" }`); status != 200 {
			t.Errorf("Delete with the page's JSON: %d %v, want 200", status, res)
		}
		if status, res = postJSON(t, p.base, "/profiles.v1.ProfilesService/Get", p.keys.SecretKey, `{ "externalId": "user-123" }`); status != 404 || res["code"] != "not_found" {
			t.Errorf("Get JSON after Delete: %d %v, want 404 not_found", status, res)
		}
	})
}
