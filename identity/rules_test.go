package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// graph builds a State: profiles by id and which distinct ids point at them.
type graph struct {
	profiles map[string]*Profile
	ids      map[string]string
}

func newGraph() *graph { return &graph{profiles: map[string]*Profile{}, ids: map[string]string{}} }

func (g *graph) add(id, external string, traits Traits, distinct ...string) *graph {
	g.profiles[id] = &Profile{ID: id, ExternalID: external, Traits: traits, Overrides: Traits{}, Version: 1}
	for _, d := range distinct {
		g.ids[d] = id
	}
	return g
}

func (g *graph) state() *State {
	st := &State{Profiles: map[string]*Profile{}, Version: 9, Now: time.Unix(1e9, 0)}
	for d, p := range g.ids {
		st.Profiles[d] = g.profiles[p]
	}
	return st
}

// summary is the part of a plan a rule decides, with generated ids replaced by "new".
type summary struct {
	Outcome Outcome
	Target  string
	Other   string
	Links   map[string]string
	Merges  []Merge
	Traits  Traits
	Ext     string
}

func summarize(plan *Plan) summary {
	name := func(id string) string {
		if len(id) > 5 && id[:5] == "prof_" {
			return "new"
		}
		return id
	}
	s := summary{Outcome: plan.Result.Outcome, Target: name(plan.Result.ProfileID), Other: plan.Result.OtherProfileID, Links: map[string]string{}}
	for _, l := range plan.Links {
		s.Links[l.DistinctID] = name(l.ProfileID)
	}
	s.Merges = plan.Merges
	for _, p := range plan.Upserts {
		if p.ID == plan.Result.ProfileID {
			s.Traits, s.Ext = p.Traits, p.ExternalID
		}
	}
	return s
}

func TestPlanIdentify(t *testing.T) {
	t.Parallel()
	set := func(kv ...any) TraitOps {
		t := Traits{}
		for i := 0; i < len(kv); i += 2 {
			t[kv[i].(string)] = kv[i+1]
		}
		return TraitOps{Set: t}
	}
	tests := []struct {
		name string
		g    *graph
		req  IdentifyRequest
		want summary
	}{{
		name: "unknown external id creates a profile owning both ids",
		g:    newGraph(),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: set("plan", "pro")},
		want: summary{Outcome: OutcomeCreated, Target: "new", Links: map[string]string{"u1": "new", "a1": "new"}, Traits: Traits{"plan": "pro"}, Ext: "u1"},
	}, {
		name: "anonymous profile becomes identified",
		g:    newGraph().add("pa", "", Traits{"ref": "ad"}, "a1"),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: set("plan", "pro")},
		want: summary{Outcome: OutcomeLinked, Target: "pa", Links: map[string]string{"u1": "pa"}, Traits: Traits{"ref": "ad", "plan": "pro"}, Ext: "u1"},
	}, {
		name: "anonymous profile merges into the identified one, winner's traits win",
		g:    newGraph().add("pe", "u1", Traits{"plan": "pro"}, "u1").add("pa", "", Traits{"plan": "free", "ref": "ad"}, "a1", "a2"),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a1"},
		want: summary{Outcome: OutcomeMerged, Target: "pe", Other: "pa", Links: map[string]string{}, Merges: []Merge{{From: "pa", Into: "pe"}}, Traits: Traits{"plan": "pro", "ref": "ad"}, Ext: "u1"},
	}, {
		name: "shared computer: anonymous id of another user is not merged",
		g:    newGraph().add("pb", "u2", Traits{"name": "bob"}, "u2", "a1"),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: set("name", "ann")},
		want: summary{Outcome: OutcomeNotMerged, Target: "new", Other: "pb", Links: map[string]string{"u1": "new"}, Traits: Traits{"name": "ann"}, Ext: "u1"},
	}, {
		name: "both identified: not merged, external id's profile updated",
		g:    newGraph().add("pe", "u1", Traits{}, "u1").add("pb", "u2", Traits{}, "u2", "a1"),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: set("x", 1.0)},
		want: summary{Outcome: OutcomeNotMerged, Target: "pe", Other: "pb", Links: map[string]string{}, Traits: Traits{"x": 1.0}, Ext: "u1"},
	}, {
		name: "known external id, unknown anonymous id is linked",
		g:    newGraph().add("pe", "u1", Traits{"a": "b"}, "u1"),
		req:  IdentifyRequest{ExternalID: "u1", AnonymousID: "a9"},
		want: summary{Outcome: OutcomeLinked, Target: "pe", Links: map[string]string{"a9": "pe"}}, // no profile row changes
	}, {
		name: "traits merge key by key and never remove a key",
		g:    newGraph().add("pe", "u1", Traits{"email": "a@b.c", "plan": "free"}, "u1"),
		req:  IdentifyRequest{ExternalID: "u1", Traits: set("plan", "pro")},
		want: summary{Outcome: OutcomeUpdated, Target: "pe", Links: map[string]string{}, Traits: Traits{"email": "a@b.c", "plan": "pro"}, Ext: "u1"},
	}, {
		name: "deleted profile: a later identify starts a new profile and takes the id",
		g: func() *graph {
			g := newGraph().add("pd", "u1", Traits{"old": true}, "u1")
			g.profiles["pd"].Deleted = true
			return g
		}(),
		req:  IdentifyRequest{ExternalID: "u1"},
		want: summary{Outcome: OutcomeCreated, Target: "new", Links: map[string]string{"u1": "new"}, Traits: Traits{}, Ext: "u1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := summarize(planIdentify(tt.g.state(), tt.req))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanIdentifyNoChangeWritesNothing(t *testing.T) {
	t.Parallel()
	g := newGraph().add("pe", "u1", Traits{"plan": "pro"}, "u1", "a1")
	plan := planIdentify(g.state(), IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: TraitOps{Set: Traits{"plan": "pro"}}})
	if len(plan.Upserts)+len(plan.Links)+len(plan.Merges) != 0 {
		t.Errorf("identical identify planned writes: %+v", plan)
	}
}

func TestPlanAlias(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		g    *graph
		req  AliasRequest
		want summary
		err  error
	}{{
		name: "unknown previous id is linked (imports)",
		g:    newGraph().add("pe", "u1", Traits{}, "u1"),
		req:  AliasRequest{PreviousID: "legacy-7", ExternalID: "u1"},
		want: summary{Outcome: OutcomeLinked, Target: "pe", Links: map[string]string{"legacy-7": "pe"}},
	}, {
		name: "both unknown: one new profile owns both",
		g:    newGraph(),
		req:  AliasRequest{PreviousID: "legacy-7", ExternalID: "u1"},
		want: summary{Outcome: OutcomeCreated, Target: "new", Links: map[string]string{"u1": "new", "legacy-7": "new"}, Traits: Traits{}, Ext: "u1"},
	}, {
		name: "anonymous previous profile merges into external id's",
		g:    newGraph().add("pe", "u1", Traits{"a": 1.0}, "u1").add("pa", "", Traits{"b": 2.0}, "anon"),
		req:  AliasRequest{PreviousID: "anon", ExternalID: "u1"},
		want: summary{Outcome: OutcomeMerged, Target: "pe", Other: "pa", Links: map[string]string{}, Merges: []Merge{{From: "pa", Into: "pe"}}, Traits: Traits{"a": 1.0, "b": 2.0}, Ext: "u1"},
	}, {
		name: "anonymous previous profile becomes identified when external id is new",
		g:    newGraph().add("pa", "", Traits{}, "anon"),
		req:  AliasRequest{PreviousID: "anon", ExternalID: "u1"},
		want: summary{Outcome: OutcomeLinked, Target: "pa", Links: map[string]string{"u1": "pa"}, Traits: Traits{}, Ext: "u1"},
	}, {
		name: "two identified profiles: refused",
		g:    newGraph().add("pe", "u1", Traits{}, "u1").add("pb", "u2", Traits{}, "u2"),
		req:  AliasRequest{PreviousID: "u2", ExternalID: "u1"},
		err:  ErrBothIdentified,
	}, {
		name: "two identified profiles: merged when asked explicitly",
		g:    newGraph().add("pe", "u1", Traits{}, "u1").add("pb", "u2", Traits{"x": "y"}, "u2"),
		req:  AliasRequest{PreviousID: "u2", ExternalID: "u1", AllowIdentifiedMerge: true},
		want: summary{Outcome: OutcomeMerged, Target: "pe", Other: "pb", Links: map[string]string{}, Merges: []Merge{{From: "pb", Into: "pe"}}, Traits: Traits{"x": "y"}, Ext: "u1"},
	}, {
		name: "previous id of another identified user, external id new: refused",
		g:    newGraph().add("pb", "u2", Traits{}, "u2"),
		req:  AliasRequest{PreviousID: "u2", ExternalID: "u1"},
		err:  ErrBothIdentified,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, err := planAlias(tt.g.state(), tt.req)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
