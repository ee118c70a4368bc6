package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// TestIdentityRules pins each identity rule of SPEC.md through the API of a real serve.
func TestIdentityRules(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	t.Run("unknown external id creates a profile", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "create")
		res := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "user-123", Traits: traits(t, map[string]any{"email": "user@example.com", "plan": "pro"})})
		if !strings.HasPrefix(res.ProfileId, "prof_") || res.Outcome != profilesv1.Outcome_OUTCOME_CREATED {
			t.Fatalf("Identify = %v, want a new prof_ id, CREATED", res)
		}
		p := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "user-123"})
		if p.Id != res.ProfileId || p.Traits.AsMap()["plan"] != "pro" {
			t.Errorf("Get = %v, want %s with plan pro", p, res.ProfileId)
		}
	})

	t.Run("anonymous profile becomes identified", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "anon")
		tn.track(t, &eventsv1.TrackRequest{Event: "Viewed Pricing", AnonymousId: "anon-1"})
		anon := tn.waitGet(t, "the anonymous profile of anon-1", &profilesv1.GetRequest{DistinctId: "anon-1"}, func(p *profilesv1.Profile) bool { return p.EventCount == 1 })
		res := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "user-1", AnonymousId: "anon-1"})
		if res.Outcome != profilesv1.Outcome_OUTCOME_LINKED || res.ProfileId != anon.Id {
			t.Fatalf("Identify = %v, want LINKED on the anonymous profile %s", res, anon.Id)
		}
		p := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "user-1"})
		if p.EventCount != 1 || p.ExternalId != "user-1" {
			t.Errorf("Get(user-1) = %v, want the anonymous event counted", p)
		}
	})

	t.Run("anonymous profile merges into the identified one", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "merge")
		known := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "user-2", Traits: traits(t, map[string]any{"plan": "pro"})})
		tn.track(t, &eventsv1.TrackRequest{Event: "Opened App", AnonymousId: "anon-2", Properties: traits(t, map[string]any{"x": 1})})
		anon := tn.waitGet(t, "the anonymous profile of anon-2", &profilesv1.GetRequest{DistinctId: "anon-2"}, func(p *profilesv1.Profile) bool { return p.EventCount == 1 })
		res := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "user-2", AnonymousId: "anon-2"})
		if res.Outcome != profilesv1.Outcome_OUTCOME_MERGED || res.ProfileId != known.ProfileId || res.OtherProfileId != anon.Id {
			t.Fatalf("Identify = %v, want MERGED of %s into %s", res, anon.Id, known.ProfileId)
		}
		byOld := tn.mustGet(t, &profilesv1.GetRequest{ProfileId: anon.Id})
		if byOld.Id != known.ProfileId || byOld.EventCount != 1 {
			t.Errorf("Get by the merged-away id = %v, want the winner %s with the anonymous event", byOld, known.ProfileId)
		}
	})

	t.Run("shared computer: no merge of two users", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "shared")
		bob := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "bob", AnonymousId: "browser-1"})
		ann := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "ann", AnonymousId: "browser-1"})
		if ann.Outcome != profilesv1.Outcome_OUTCOME_NOT_MERGED_BOTH_IDENTIFIED || ann.OtherProfileId != bob.ProfileId || ann.ProfileId == bob.ProfileId {
			t.Fatalf("Identify(ann) = %v, want NOT_MERGED beside bob's %s", ann, bob.ProfileId)
		}
		if p := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "bob"}); p.Id != bob.ProfileId {
			t.Errorf("bob's profile moved to %s", p.Id)
		}
	})

	t.Run("traits merge and are never removed; setOnce and unset", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "traits")
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", Traits: traits(t, map[string]any{"a": 1, "plan": "free", "old": true})})
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", Traits: traits(t, map[string]any{"plan": "pro"}),
			SetOnce: traits(t, map[string]any{"a": 99, "first": "x"}), Unset: []string{"old"}})
		got := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"}).Traits.AsMap()
		want := map[string]any{"a": 1.0, "plan": "pro", "first": "x"}
		if len(got) != len(want) || got["a"] != 1.0 || got["plan"] != "pro" || got["first"] != "x" {
			t.Errorf("traits = %v, want %v", got, want)
		}
	})

	t.Run("overrides win until removed", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "overrides")
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", Traits: traits(t, map[string]any{"plan": "free"})})
		ctx := context.Background()
		if _, err := tn.prof.SetTraitOverrides(ctx, connect.NewRequest(&profilesv1.SetTraitOverridesRequest{ExternalId: "u", Traits: traits(t, map[string]any{"plan": "enterprise"})})); err != nil {
			t.Fatal(err)
		}
		tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", Traits: traits(t, map[string]any{"plan": "pro"})})
		if got := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"}).Traits.AsMap()["plan"]; got != "enterprise" {
			t.Fatalf("plan = %v with an override, want enterprise", got)
		}
		if _, err := tn.prof.RemoveTraitOverrides(ctx, connect.NewRequest(&profilesv1.RemoveTraitOverridesRequest{ExternalId: "u", Keys: []string{"plan"}})); err != nil {
			t.Fatal(err)
		}
		if got := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"}).Traits.AsMap()["plan"]; got != "pro" {
			t.Errorf("plan = %v after removing the override, want the SDK's pro", got)
		}
	})

	t.Run("alias links an unknown previous id", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "alias")
		u := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "user-123"})
		res, err := tn.alias(t, &profilesv1.AliasRequest{PreviousId: "anonymous-abc", ExternalId: "user-123"})
		if err != nil || res.ProfileId != u.ProfileId || res.Outcome != profilesv1.Outcome_OUTCOME_LINKED {
			t.Fatalf("Alias = %v, %v; want LINKED to %s", res, err, u.ProfileId)
		}
		if p := tn.mustGet(t, &profilesv1.GetRequest{DistinctId: "anonymous-abc"}); p.Id != u.ProfileId {
			t.Errorf("Get by the aliased id = %s, want %s", p.Id, u.ProfileId)
		}
	})

	t.Run("merging two identified profiles needs an explicit ask", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "identified")
		a := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "a"})
		b := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "b"})
		_, err := tn.alias(t, &profilesv1.AliasRequest{PreviousId: "b", ExternalId: "a"})
		wantCode(t, err, connect.CodeFailedPrecondition, "allowIdentifiedMerge")
		res, err := tn.alias(t, &profilesv1.AliasRequest{PreviousId: "b", ExternalId: "a", AllowIdentifiedMerge: true})
		if err != nil || res.Outcome != profilesv1.Outcome_OUTCOME_MERGED || res.OtherProfileId != b.ProfileId {
			t.Fatalf("Alias with allowIdentifiedMerge = %v, %v; want MERGED of %s", res, err, b.ProfileId)
		}
		if p := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "b"}); p.Id != a.ProfileId {
			t.Errorf("Get(b) = %s, want the winner %s", p.Id, a.ProfileId)
		}
	})

	t.Run("message id makes a retry change nothing", func(t *testing.T) {
		t.Parallel()
		tn := s.tenant(t, "idempotent")
		first := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", MessageId: "m1", Traits: traits(t, map[string]any{"n": 1})})
		again := tn.identify(t, &profilesv1.IdentifyRequest{ExternalId: "u", MessageId: "m1", Traits: traits(t, map[string]any{"n": 2})})
		if !again.Replayed || again.ProfileId != first.ProfileId || again.Outcome != first.Outcome {
			t.Fatalf("retry = %v, want a replay of %v", again, first)
		}
		if n := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "u"}).Traits.AsMap()["n"]; n != 1.0 {
			t.Errorf("n = %v after a replayed retry, want 1", n)
		}
	})

	t.Run("tenancy: another project's key finds nothing and changes nothing", func(t *testing.T) {
		t.Parallel()
		a, b := s.tenant(t, "tenant-a"), s.tenant(t, "tenant-b")
		pa := a.identify(t, &profilesv1.IdentifyRequest{ExternalId: "shared-id", Traits: traits(t, map[string]any{"owner": "a"})})
		_, err := b.get(t, &profilesv1.GetRequest{ExternalId: "shared-id"})
		wantCode(t, err, connect.CodeNotFound, "")
		_, err = b.get(t, &profilesv1.GetRequest{ProfileId: pa.ProfileId})
		wantCode(t, err, connect.CodeNotFound, "")
		pb := b.identify(t, &profilesv1.IdentifyRequest{ExternalId: "shared-id", Traits: traits(t, map[string]any{"owner": "b"})})
		if pb.ProfileId == pa.ProfileId || pb.Outcome != profilesv1.Outcome_OUTCOME_CREATED {
			t.Fatalf("B's identify = %v, want its own new profile", pb)
		}
		if got := a.mustGet(t, &profilesv1.GetRequest{ExternalId: "shared-id"}).Traits.AsMap()["owner"]; got != "a" {
			t.Errorf("A's profile changed by B: owner = %v", got)
		}
	})

	t.Run("the page's raw JSON", func(t *testing.T) {
		t.Parallel()
		p := createProject(t, s.env, "raw")
		post := func(path, key, body string) map[string]any {
			req, _ := http.NewRequest(http.MethodPost, s.srv.base+path, bytes.NewBufferString(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := httpClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("POST %s: status %d, %v, %v", path, resp.StatusCode, out, err)
			}
			return out
		}
		id := post("/profiles.v1.ProfilesSDKService/Identify", p.SDKKey,
			`{ "externalId": "user-123", "traits": { "email": "user@example.com", "plan": "pro", "company": "Acme Inc" } }`)
		if pid, _ := id["profileId"].(string); !strings.HasPrefix(pid, "prof_") {
			t.Fatalf("Identify JSON = %v, want profileId prof_…", id)
		}
		got := post("/profiles.v1.ProfilesService/Get", p.SecretKey, `{ "externalId": "user-123" }`)["profile"].(map[string]any)
		for _, k := range []string{"id", "externalId", "traits", "firstSeen", "lastSeen", "eventCount"} {
			if _, ok := got[k]; !ok {
				t.Errorf("Get JSON lacks %q: %v", k, got)
			}
		}
		if _, ok := got["eventCount"].(float64); !ok {
			t.Errorf("eventCount = %#v, want a JSON number", got["eventCount"])
		}
		list := post("/profiles.v1.ProfilesService/List", p.SecretKey, `{ "query": "user@example.com", "limit": 50, "offset": 0 }`)
		if total, ok := list["total"].(float64); !ok || total != 1 {
			t.Errorf("List total = %#v, want the JSON number 1", list["total"])
		}
	})
}

// TestIdentityErrors pins the refusals: the Connect code and the field named.
func TestIdentityErrors(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tn := s.tenant(t, "errors")
	ctx := context.Background()
	identify := func(req *profilesv1.IdentifyRequest) error {
		_, err := tn.sdk.Identify(ctx, connect.NewRequest(req))
		return err
	}
	for _, id := range []string{"", "   ", strings.Repeat("x", 201), "a\x01b", "undefined", "null", "NULL", "anonymous", "[object Object]", "NaN", "0", "guest"} {
		wantCode(t, identify(&profilesv1.IdentifyRequest{ExternalId: id}), connect.CodeInvalidArgument, "externalId")
	}
	if err := identify(&profilesv1.IdentifyRequest{ExternalId: "ok"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, identify(&profilesv1.IdentifyRequest{ExternalId: "ok", AnonymousId: "undefined"}), connect.CodeInvalidArgument, "anonymousId")
	_, err := tn.sdk.Alias(ctx, connect.NewRequest(&profilesv1.AliasRequest{PreviousId: "null", ExternalId: "ok"}))
	wantCode(t, err, connect.CodeInvalidArgument, "previousId")

	many := map[string]any{}
	for i := range 300 {
		many[strings.Repeat("k", 1+i%50)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = i
	}
	deep := map[string]any{"v": 1}
	for range 7 {
		deep = map[string]any{"d": deep}
	}
	for name, c := range map[string]struct {
		traits map[string]any
		field  string
	}{
		"too many traits": {many, "traits"},
		"key too long":    {map[string]any{strings.Repeat("k", 129): 1}, "traits"},
		"value too large": {map[string]any{"bio": strings.Repeat("x", 9000)}, "traits.bio"},
		"nested too deep": {map[string]any{"d": deep}, "traits.d"},
		"dot in a key":    {map[string]any{"a.b": 1}, "traits"},
		"dollar in a key": {map[string]any{"$set": 1}, "traits"},
		"NUL in a value":  {map[string]any{"name": "a\x00b"}, "traits.name"},
	} {
		err := identify(&profilesv1.IdentifyRequest{ExternalId: "ok", Traits: traits(t, c.traits)})
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want invalid_argument naming %s", name, err, c.field)
		}
	}
	huge := identify(&profilesv1.IdentifyRequest{ExternalId: "ok", Traits: traits(t, map[string]any{"a": strings.Repeat("x", 2<<20)})})
	wantCode(t, huge, connect.CodeResourceExhausted, "")

	if p := tn.mustGet(t, &profilesv1.GetRequest{ExternalId: "ok"}); len(p.Traits.AsMap()) != 0 {
		t.Errorf("refused requests wrote traits: %v", p.Traits.AsMap())
	}
}
