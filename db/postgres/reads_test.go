package postgres

import (
	"testing"

	"github.com/poluruprvn/profiles/profiles"
)

func TestFilterOpsMatchDomain(t *testing.T) {
	pairs := map[profiles.Op]FilterOp{
		profiles.OpEq: FilterEq, profiles.OpNeq: FilterNeq, profiles.OpContains: FilterContains,
		profiles.OpExists: FilterExists, profiles.OpNotExists: FilterNotExists, profiles.OpGt: FilterGt,
		profiles.OpGte: FilterGte, profiles.OpLt: FilterLt, profiles.OpLte: FilterLte,
	}
	for op, want := range pairs {
		if got := filtersOf([]profiles.Filter{{Op: op}})[0].Op; got != want {
			t.Errorf("profiles op %d converts to %v, want %v", op, got, want)
		}
	}
}
