package profiles

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/internal/fakeclock"
)

// listStore is a Store whose List answers page records and total, and whose Count takes half
// a second of the fake clock and answers count.
type listStore struct {
	clock *fakeCount
	mu    sync.Mutex
	page  []Record
	total int
	count int

	counts  int
	matches []int // the hint of every List
}

func (s *listStore) Find(context.Context, string, Lookup) (Record, error) { return Record{}, nil }

func (s *listStore) List(_ context.Context, _ string, q Query) ([]Record, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.matches = append(s.matches, q.Matches)
	return s.page, s.total, nil
}

func (s *listStore) Count(context.Context, string, Query) (int, error) {
	s.clock.Advance(500 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts++
	return s.count, nil
}

type noEvents struct{}

func (noEvents) Stats(_ context.Context, _ string, groups [][]string) ([]EventStats, error) {
	return make([]EventStats, len(groups)), nil
}

func (noEvents) History(context.Context, string, []string, string, int) ([]Event, string, error) {
	return nil, "", nil
}

// Kept totals belong to one project and one query and filters, whatever the page.
func TestListKeepsTotalsPerProjectAndQuery(t *testing.T) {
	t.Parallel()
	clock := &fakeCount{Clock: fakeclock.New(time.Unix(1e9, 0))}
	store := &listStore{clock: clock, page: make([]Record, 3), total: -1, count: 1000}
	s := NewService(store, noEvents{}, nil)
	s.totals.now = clock.Now
	ctx := context.Background()
	list := func(project string, req ListRequest) int {
		t.Helper()
		res, err := s.List(ctx, project, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	pro := []Filter{{Key: "plan", Op: OpEq, Value: "pro"}}
	steps := []struct {
		project    string
		req        ListRequest
		wantCounts int
	}{
		{"p1", ListRequest{Query: "x", Limit: 3}, 1},
		{"p1", ListRequest{Query: "x", Limit: 3, Offset: 3}, 1}, // another page: the same total
		{"p1", ListRequest{Query: "x", Limit: 10}, 1},
		{"p2", ListRequest{Query: "x", Limit: 3}, 2}, // another project
		{"p1", ListRequest{Query: "y", Limit: 3}, 3}, // another query
		{"p1", ListRequest{Query: "x", Filters: pro, Limit: 3}, 4},
		{"p1", ListRequest{Query: "x", Filters: pro, Limit: 3, Offset: 30}, 4},
	}
	for i, st := range steps {
		if got := list(st.project, st.req); got != 1000 {
			t.Errorf("step %d: total %d, want 1000", i, got)
		}
		if store.counts != st.wantCounts {
			t.Errorf("step %d (%s %+v): %d counts, want %d", i, st.project, st.req, store.counts, st.wantCounts)
		}
	}
	if got := store.matches[1]; got != 1000 {
		t.Errorf("the second page's hint = %d, want the kept 1000", got)
	}

	// A kept total below what the page shows is raised to it.
	store.count = 2
	if got := list("p3", ListRequest{Query: "x", Limit: 3, Offset: 10}); got != 13 {
		t.Errorf("total %d under a page that ends at 13, want 13", got)
	}

	// The store counted exactly where the kept total said many: the kept one goes.
	store.total = 5
	list("p1", ListRequest{Query: "y", Limit: 3})
	list("p1", ListRequest{Query: "y", Limit: 3})
	if got := store.matches[len(store.matches)-2:]; got[0] != 1000 || got[1] != 0 {
		t.Errorf("hints %v, want the kept 1000 and then none once the store counted 5", got)
	}
}
