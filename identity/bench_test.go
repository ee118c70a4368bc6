package identity

import (
	"fmt"
	"testing"
	"time"
)

func benchTraits(n int) Traits {
	t := Traits{}
	for i := range n {
		t[fmt.Sprintf("key%d", i)] = fmt.Sprintf("value %d", i)
	}
	t["nested"] = map[string]any{"a": []any{1.0, "two", true}}
	return t
}

func BenchmarkTraitOpsValidate(b *testing.B) {
	ops := TraitOps{Set: benchTraits(20), SetOnce: Traits{"first": "x"}, Unset: []string{"old"}}
	for b.Loop() {
		if err := ops.Validate(DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTraitOpsApply(b *testing.B) {
	base := benchTraits(30)
	ops := TraitOps{Set: benchTraits(10), SetOnce: Traits{"first": "x"}, Unset: []string{"key3"}}
	for b.Loop() {
		ops.Apply(base)
	}
}

func BenchmarkMergeUnder(b *testing.B) {
	winner, loser := benchTraits(30), benchTraits(40)
	for b.Loop() {
		MergeUnder(winner, loser)
	}
}

func BenchmarkValidateID(b *testing.B) {
	for b.Loop() {
		if err := ValidateID("externalId", "user-1234567890@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlanIdentifyMerge(b *testing.B) {
	for b.Loop() {
		g := newGraph().add("pe", "u1", benchTraits(20), "u1").add("pa", "", benchTraits(10), "a1", "a2")
		st := g.state()
		st.Now = time.Unix(1e9, 0)
		planIdentify(st, IdentifyRequest{ExternalID: "u1", AnonymousID: "a1", Traits: TraitOps{Set: Traits{"plan": "pro"}}})
	}
}
