package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/events"
)

func subjects(ids ...string) []events.Subject {
	out := make([]events.Subject, len(ids))
	for i, id := range ids {
		out[i] = events.Subject{ProjectID: "proj", DistinctID: id}
	}
	return out
}

func TestSubjectsRemember(t *testing.T) {
	t.Parallel()
	k := NewSubjects(1 << 16)
	a, b := subjects("a")[0], events.Subject{ProjectID: "other", DistinctID: "a"}
	k.MarkKnown([]events.Subject{a})
	if !k.Known(a) || k.Known(b) {
		t.Errorf("Known(a) = %v, Known(a of another project) = %v; want true, false", k.Known(a), k.Known(b))
	}

	one := NewSubjects(1) // every subject takes the one slot
	one.MarkKnown([]events.Subject{a})
	one.MarkKnown([]events.Subject{b})
	if one.Known(a) || !one.Known(b) {
		t.Errorf("with one slot: Known(a) = %v, Known(b) = %v; want the newer one remembered only", one.Known(a), one.Known(b))
	}
}

// recorder is an observe function that records the subjects it was given, finds refused
// ones unobservable, and blocks while gate is open.
type recorder struct {
	mu      sync.Mutex
	asked   []string
	refused map[string]bool
	gate    chan struct{}
	err     error
}

func (r *recorder) observe(ctx context.Context, subs []events.Subject) ([]events.Subject, error) {
	r.mu.Lock()
	for _, s := range subs {
		r.asked = append(r.asked, s.DistinctID)
	}
	r.mu.Unlock()
	if r.gate != nil {
		<-r.gate
	}
	if r.err != nil {
		return nil, r.err
	}
	return slices.DeleteFunc(slices.Clone(subs), func(s events.Subject) bool { return r.refused[s.DistinctID] }), nil
}

func TestSubjectsObserveEachOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := NewSubjects(1 << 16)
	r := &recorder{refused: map[string]bool{"undefined": true}}
	if err := k.Observe(ctx, subjects("a", "b", "undefined"), r.observe); err != nil {
		t.Fatal(err)
	}
	if err := k.Observe(ctx, subjects("a", "b", "c", "undefined"), r.observe); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "undefined", "c", "undefined"}
	if !slices.Equal(r.asked, want) {
		t.Errorf("observed %v; want %v: known ids skipped, a refused one asked again", r.asked, want)
	}
}

// TestSubjectsShareAnObservation: callers that meet ids another caller is observing wait for
// it instead of observing them again, and fail with it.
func TestSubjectsShareAnObservation(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			k := NewSubjects(1 << 16)
			first := &recorder{gate: make(chan struct{})}
			if fail {
				first.err = errors.New("postgres went away")
			}
			firstDone := make(chan error)
			go func() { firstDone <- k.Observe(ctx, subjects("a", "b"), first.observe) }()
			for { // until the first caller holds its ids
				first.mu.Lock()
				n := len(first.asked)
				first.mu.Unlock()
				if n == 2 {
					break
				}
				time.Sleep(time.Millisecond)
			}

			second := &recorder{}
			var secondErr atomic.Value
			secondDone := make(chan struct{})
			go func() {
				if err := k.Observe(ctx, subjects("b", "c"), second.observe); err != nil {
					secondErr.Store(err)
				}
				close(secondDone)
			}()
			select {
			case <-secondDone:
				t.Fatal("the second caller finished while the first still observed an id it needs")
			case <-time.After(50 * time.Millisecond):
			}
			close(first.gate)
			if err := <-firstDone; (err != nil) != fail {
				t.Fatalf("first Observe = %v; want an error %v", err, fail)
			}
			<-secondDone
			if !slices.Equal(second.asked, []string{"c"}) {
				t.Errorf("second caller observed %v; want only c, b being the first's", second.asked)
			}
			if err, _ := secondErr.Load().(error); (err != nil) != fail {
				t.Errorf("second Observe = %v; want an error %v, as the observation it waited for", err, fail)
			}
			if known := k.Known(subjects("a")[0]); known == fail {
				t.Errorf("Known(a) = %v after the first observation (failed: %v); want %v", known, fail, !fail)
			}
		})
	}
}
