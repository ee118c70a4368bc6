package postgres

import (
	"fmt"
	"slices"
	"testing"

	"github.com/poluruprvn/profiles/identity"
)

// TestPickGroup: a group carries its leader's own write first, then the writes callers wait on,
// and background ones only when it holds none of those, within maxGroup writes and maxGroupIDs
// ids; what stays queued keeps its order, and a group is never empty while writes wait.
func TestPickGroup(t *testing.T) {
	t.Parallel()
	names := map[*write]string{}
	w := func(name string, ids int, background bool) *write {
		x := &write{req: identity.UpdateRequest{DistinctIDs: make([]string, ids), Background: background}}
		names[x] = name
		return x
	}
	named := func(ws []*write) []string {
		out := make([]string, len(ws))
		for i, x := range ws {
			out[i] = names[x]
		}
		return out
	}
	bgA, i1, bgB, i2 := w("bgA", identity.MaxObserveIDs, true), w("i1", 2, false), w("bgB", identity.MaxObserveIDs, true), w("i2", 2, false)
	huge, elsewhere := w("huge", maxGroupIDs+1, false), w("elsewhere", 1, false)
	many := make([]*write, maxGroup+3)
	for i := range many {
		many[i] = w(fmt.Sprint("m", i), 1, false)
	}
	for _, tc := range []struct {
		name        string
		queue       []*write
		own         *write
		group, rest []string
	}{
		{"empty", nil, elsewhere, []string{}, []string{}},
		{"callers first, and alone", []*write{bgA, i1, bgB, i2}, i2, []string{"i2", "i1"}, []string{"bgA", "bgB"}},
		{"own first, however big", []*write{bgA, i1, bgB, i2}, bgB, []string{"bgB", "i1", "i2"}, []string{"bgA"}},
		{"own taken by another leader", []*write{bgA, i1}, elsewhere, []string{"i1"}, []string{"bgA"}},
		{"background together", []*write{bgA, bgB, w("bgC", 1, true)}, bgB, []string{"bgB", "bgA"}, []string{"bgC"}},
		{"past the id bound alone", []*write{huge, i1}, huge, []string{"huge"}, []string{"i1"}},
		{"at most maxGroup", many, many[2], append([]string{"m2", "m0", "m1"}, named(many[3:maxGroup])...), named(many[maxGroup:])},
	} {
		group, rest := pickGroup(tc.queue, tc.own)
		if !slices.Equal(named(group), tc.group) || !slices.Equal(named(rest), tc.rest) {
			t.Errorf("%s: group %v, rest %v; want %v, %v", tc.name, named(group), named(rest), tc.group, tc.rest)
		}
	}
}

// TestCompactIDs: ids once each, in order of first appearance, without empty ones, whether
// few or many.
func TestCompactIDs(t *testing.T) {
	t.Parallel()
	few := []string{"b", "", "a", "b", "c", "a"}
	if got := compactIDs(few); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("compactIDs(%q) = %q", few, got)
	}
	var many, want []string
	for i := range 40 {
		many = append(many, fmt.Sprint("v", i%25), "")
		if i < 25 {
			want = append(want, fmt.Sprint("v", i))
		}
	}
	if got := compactIDs(many); !slices.Equal(got, want) {
		t.Errorf("compactIDs of 80 ids = %q; want %q", got, want)
	}
}
