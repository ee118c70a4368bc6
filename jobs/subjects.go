package jobs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/poluruprvn/profiles/events"
)

// Subjects spares the event worker the identity work of distinct ids it has seen to: it
// remembers which subjects have a profile, and which ones a job of this process is giving one
// right now. Without it every event batch asked Postgres about each of its ids, and a new
// visitor whose events sat in several concurrent jobs was observed by each of them (locked,
// read and found) under TrackBatch: two thirds of the ids observed were already done, and
// those reads were most of Postgres' work.
//
// Knowing is forever: no row of distinct_ids is ever deleted (a merge re-points one, a delete
// keeps it so that events do not revive the profile), so a subject seen with a profile has one
// from then on. The memory is a fixed table of 64-bit fingerprints, one per slot, where a newer
// subject takes the slot of an older one: forgetting costs a lookup, never a missed profile; a
// false "known" needs two subjects with equal 64-bit hashes. Several worker processes each keep
// their own; ObserveAll stays correct across them, this only saves work within one.
type Subjects struct {
	known []atomic.Uint64

	mu       sync.Mutex
	inFlight map[events.Subject]*observation
}

// observation is one job's ObserveAll of some subjects; done closes when it ends, err says how.
type observation struct {
	done chan struct{}
	err  error
}

// NewSubjects returns a Subjects remembering up to slots subjects (a power of two; 8 bytes
// each).
func NewSubjects(slots int) *Subjects {
	if slots <= 0 || slots&(slots-1) != 0 {
		panic("jobs: NewSubjects: slots must be a power of two")
	}
	return &Subjects{known: make([]atomic.Uint64, slots), inFlight: map[events.Subject]*observation{}}
}

func fingerprint(s events.Subject) uint64 { return s.Hash() | 1 } // never 0, the empty slot

func (k *Subjects) slot(fp uint64) *atomic.Uint64 { return &k.known[fp&uint64(len(k.known)-1)] }

// Known reports whether s was marked known and not forgotten since.
func (k *Subjects) Known(s events.Subject) bool {
	fp := fingerprint(s)
	return k.slot(fp).Load() == fp
}

// MarkKnown records that each of subs has a profile.
func (k *Subjects) MarkKnown(subs []events.Subject) {
	for _, s := range subs {
		fp := fingerprint(s)
		k.slot(fp).Store(fp)
	}
}

// claim splits subs into those this caller now observes (mine, recorded in flight under obs)
// and the observations of other callers that hold the rest.
func (k *Subjects) claim(subs []events.Subject, obs *observation) (mine []events.Subject, others []*observation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[*observation]bool{}
	for _, s := range subs {
		if o, ok := k.inFlight[s]; ok {
			if !seen[o] {
				seen[o] = true
				others = append(others, o)
			}
			continue
		}
		k.inFlight[s] = obs
		mine = append(mine, s)
	}
	return mine, others
}

// release ends obs, which held mine, with err.
func (k *Subjects) release(mine []events.Subject, obs *observation, err error) {
	k.mu.Lock()
	for _, s := range mine {
		delete(k.inFlight, s)
	}
	k.mu.Unlock()
	obs.err = err
	close(obs.done)
}

// Observe runs observe for those of subs that are neither known nor being observed by another
// caller, then waits for the callers observing the rest; observe returns the subjects it found
// or gave a profile. It fails if observe fails, or if an observation it waited for did: the job
// retries, and its ids with it.
func (k *Subjects) Observe(ctx context.Context, subs []events.Subject, observe func(context.Context, []events.Subject) ([]events.Subject, error)) error {
	todo := make([]events.Subject, 0, len(subs))
	for _, s := range subs {
		if !k.Known(s) {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	obs := &observation{done: make(chan struct{})}
	mine, others := k.claim(todo, obs)
	var err error
	if len(mine) > 0 {
		var done []events.Subject
		done, err = observe(ctx, mine)
		if err == nil {
			k.MarkKnown(done)
		}
	}
	// Released before waiting for others, so that two jobs waiting on each other's subjects
	// both have their own done first.
	k.release(mine, obs, err)
	if err != nil {
		return err
	}
	for _, o := range others {
		select {
		case <-o.done:
			if o.err != nil {
				return fmt.Errorf("a concurrent observation of the same ids failed: %w", o.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
