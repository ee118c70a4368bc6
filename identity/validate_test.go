package identity

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	bad := []string{"", "   ", "\t", strings.Repeat("x", MaxIDBytes+1), "a\x00b", "a\nb",
		"undefined", "NULL", "Anonymous", "[object Object]", "NaN", "0", "guest", `"undefined"`, " null "}
	for _, id := range bad {
		err := ValidateID("externalId", id)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "externalId" || !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateID(%q) = %v, want a FieldError on externalId", id, err)
		}
	}
	good := []string{"user-123", "0a", "guest-42", strings.Repeat("x", MaxIDBytes), "ünïcode", "a b"}
	for _, id := range good {
		if err := ValidateID("externalId", id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
}

func TestTraitOpsValidate(t *testing.T) {
	t.Parallel()
	deep := any("leaf")
	for range DefaultLimits.MaxDepth + 2 {
		deep = map[string]any{"k": deep}
	}
	many := Traits{}
	for i := range DefaultLimits.MaxTraits + 1 {
		many["k"+itoa(i)] = 1.0
	}
	tests := []struct {
		name  string
		ops   TraitOps
		field string
	}{
		{"key too long", TraitOps{Set: Traits{strings.Repeat("k", 129): 1.0}}, "traits"},
		{"dot in key", TraitOps{Set: Traits{"a.b": 1.0}}, "traits"},
		{"dollar in key", TraitOps{SetOnce: Traits{"$set": 1.0}}, "setOnce"},
		{"value too large", TraitOps{Set: Traits{"bio": strings.Repeat("x", 8<<10+1)}}, "traits.bio"},
		{"NUL in value", TraitOps{Set: Traits{"name": "a\x00"}}, "traits.name"},
		{"NaN", TraitOps{Set: Traits{"n": math.NaN()}}, "traits.n"},
		{"too deep", TraitOps{Set: Traits{"d": deep}}, "traits.d.k.k.k.k.k.k"},
		{"too many", TraitOps{Set: many}, "traits"},
		{"set and unset", TraitOps{Set: Traits{"a": 1.0}, Unset: []string{"a"}}, "unset"},
		{"empty key", TraitOps{Set: Traits{"": 1.0}}, "traits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.ops.Validate(DefaultLimits)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Validate = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
	ok := TraitOps{Set: Traits{"email": "a@b.c", "tags": []any{"x", 1.0}, "nested": map[string]any{"a": true}}, SetOnce: Traits{"first": "x"}, Unset: []string{"old"}}
	if err := ok.Validate(DefaultLimits); err != nil {
		t.Errorf("valid ops refused: %v", err)
	}
}

func TestTraitOpsApply(t *testing.T) {
	t.Parallel()
	base := Traits{"plan": "free", "first": "a", "old": 1.0}
	got, changed := TraitOps{Set: Traits{"plan": "pro"}, SetOnce: Traits{"first": "b", "source": "ad"}, Unset: []string{"old"}}.Apply(base)
	want := Traits{"plan": "pro", "first": "a", "source": "ad"}
	if !changed || len(got) != len(want) {
		t.Fatalf("Apply = %v (changed %v), want %v", got, changed, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("trait %s = %v, want %v", k, got[k], v)
		}
	}
	if base["plan"] != "free" {
		t.Error("Apply modified its input")
	}
	if _, changed := (TraitOps{Set: Traits{"plan": "free"}}).Apply(base); changed {
		t.Error("setting an equal value reported a change")
	}
}
