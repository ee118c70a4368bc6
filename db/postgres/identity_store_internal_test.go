package postgres

import (
	"fmt"
	"testing"

	"github.com/poluruprvn/profiles/identity"
)

// TestTakeGroup: a group is the head of the queue, bounded by writes and by distinct ids, and
// never empty while writes wait; maxLeaders writes of the most ids always fit.
func TestTakeGroup(t *testing.T) {
	t.Parallel()
	queue := func(ids ...int) []*write {
		q := make([]*write, len(ids))
		for i, n := range ids {
			q[i] = &write{req: identity.UpdateRequest{DistinctIDs: make([]string, n)}}
		}
		return q
	}
	ones := make([]int, maxGroup+5)
	for i := range ones {
		ones[i] = 1
	}
	for _, tc := range []struct {
		ids  []int
		want int
	}{
		{nil, 0},
		{[]int{1}, 1},
		{[]int{identity.MaxObserveIDs, identity.MaxObserveIDs, 1}, 2},
		{[]int{2, identity.MaxObserveIDs, identity.MaxObserveIDs}, 2},
		{[]int{maxGroupIDs + 1, 1}, 1},
		{ones, maxGroup},
	} {
		if got := takeGroup(queue(tc.ids...)); got != tc.want {
			t.Errorf("takeGroup of writes with %s ids = %d; want %d", fmt.Sprint(tc.ids[:min(len(tc.ids), 4)]), got, tc.want)
		}
	}
}
