package identity

import (
	"encoding/json"
	"maps"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Traits are a profile's attributes: JSON values keyed by name (nil, bool, float64, string,
// []any and map[string]any, as encoding/json decodes them).
type Traits map[string]any

// Clone copies the top level; values are treated as immutable.
func (t Traits) Clone() Traits {
	if t == nil {
		return Traits{}
	}
	return maps.Clone(t)
}

// TraitOps are the trait edits of one request, applied in this order: setOnce (only keys the
// profile lacks), then set, then unset.
type TraitOps struct {
	Set     Traits
	SetOnce Traits
	Unset   []string
}

// Empty reports whether the request edits no trait.
func (o TraitOps) Empty() bool { return len(o.Set) == 0 && len(o.SetOnce) == 0 && len(o.Unset) == 0 }

// Apply returns t with the edits applied and whether anything changed. t is not modified.
func (o TraitOps) Apply(t Traits) (Traits, bool) {
	out := t.Clone()
	changed := false
	for k, v := range o.SetOnce {
		if _, ok := out[k]; !ok {
			out[k] = v
			changed = true
		}
	}
	for k, v := range o.Set {
		if old, ok := out[k]; !ok || !jsonEqual(old, v) {
			out[k] = v
			changed = true
		}
	}
	for _, k := range o.Unset {
		if _, ok := out[k]; ok {
			delete(out, k)
			changed = true
		}
	}
	return out, changed
}

// MergeUnder returns winner's traits with the loser's filling the keys winner lacks: a merge
// never removes a trait, and the surviving profile's values win.
func MergeUnder(winner, loser Traits) Traits {
	out := loser.Clone()
	maps.Copy(out, winner)
	return out
}

// Effective applies server-side overrides on top of SDK traits.
func Effective(traits, overrides Traits) Traits {
	if len(overrides) == 0 {
		return traits
	}
	out := traits.Clone()
	maps.Copy(out, overrides)
	return out
}

// Validate checks the edits against limits. field prefixes are the API's JSON names.
func (o TraitOps) Validate(l Limits) error {
	if n := len(o.Set) + len(o.SetOnce) + len(o.Unset); n > l.MaxTraits {
		return fieldErr("traits", "at most %d trait keys per request, got %d", l.MaxTraits, n)
	}
	budget := l.MaxTraitsBytes
	for _, part := range []struct {
		field  string
		traits Traits
	}{{"traits", o.Set}, {"setOnce", o.SetOnce}} {
		for _, k := range sortedKeys(part.traits) {
			path := part.field + "." + k
			if err := validateKey(part.field, k, l); err != nil {
				return err
			}
			if err := validateValue(path, part.traits[k], 0, l, &budget); err != nil {
				return err
			}
		}
	}
	for i, k := range o.Unset {
		if err := validateKey("unset", k, l); err != nil {
			return err
		}
		if _, ok := o.Set[k]; ok {
			return fieldErr("unset", "key %q (index %d) is also set in traits", k, i)
		}
	}
	return nil
}

// validateKey refuses keys that cannot be stored or queried safely: '.' and '$' are path and
// operator syntax in trait filters, NUL cannot be stored in jsonb.
func validateKey(field, k string, l Limits) error {
	switch {
	case k == "" || strings.TrimSpace(k) == "":
		return fieldErr(field, "trait keys must not be empty")
	case len(k) > l.MaxKeyBytes:
		return fieldErr(field, "trait key %.40q… is longer than %d bytes", k, l.MaxKeyBytes)
	case !utf8.ValidString(k):
		return fieldErr(field, "trait keys must be valid UTF-8")
	case strings.ContainsAny(k, ".$"):
		return fieldErr(field, "trait key %q must not contain '.' or '$'", k)
	case strings.IndexFunc(k, unicode.IsControl) >= 0:
		return fieldErr(field, "trait key %q must not contain control characters", k)
	}
	return nil
}

func validateValue(path string, v any, depth int, l Limits, budget *int) error {
	if depth > l.MaxDepth {
		return fieldErr(path, "nested deeper than %d levels", l.MaxDepth)
	}
	switch v := v.(type) {
	case nil, bool:
		*budget -= 5
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr(path, "must be a finite number")
		}
		*budget -= 24
	case string:
		if len(v) > l.MaxValueBytes {
			return fieldErr(path, "string longer than %d bytes", l.MaxValueBytes)
		}
		if !utf8.ValidString(v) {
			return fieldErr(path, "must be valid UTF-8")
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fieldErr(path, "must not contain NUL characters")
		}
		*budget -= len(v) + 2
	case []any:
		for i, e := range v {
			if err := validateValue(path+"["+itoa(i)+"]", e, depth+1, l, budget); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if err := validateKey(path, k, l); err != nil {
				return err
			}
			if err := validateValue(path+"."+k, v[k], depth+1, l, budget); err != nil {
				return err
			}
		}
	default:
		return fieldErr(path, "unsupported value type %T", v)
	}
	if *budget < 0 {
		return fieldErr(path, "traits of one request must encode to at most %d bytes", l.MaxTraitsBytes)
	}
	return nil
}

func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil, bool, float64, string:
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
