package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/identity"
)

// ChangePublisher enqueues the projection of changes inside the transaction that makes them
// (River's InsertTx), so the job exists if and only if the changes commit.
type ChangePublisher interface {
	PublishTx(ctx context.Context, tx pgx.Tx, changes []identity.Change) error
}

// Group commit: concurrent writes share transactions. At most maxLeaders transactions run at
// once, each carrying writes queued when it began, up to maxGroup writes and maxGroupIDs
// distinct ids (pickGroup). One transaction per
// write capped Identify near 1k/s on two cores, mostly spent on BEGIN/COMMIT and one River job
// per write; a group pays those once. Two leaders measured best here (1: 2.5k/s, 2: 3.1k/s,
// 4: 2.7k/s, 8: 2.1k/s new-user Identify at 32 clients): more transactions at once only
// contend for the same two cores.
const (
	maxLeaders = 2
	maxGroup   = 128
	// maxGroupIDs bounds the ids a group's writes name, and so most of its advisory locks
	// (Postgres' lock table holds max_locks_per_transaction x max_connections, 6,400 by
	// default, for every process; message ids add one lock per write): one ObserveAll carries
	// hundreds.
	maxGroupIDs = 512
	maxAttempts = 12
	groupBudget = 15 * time.Second // a group's transaction, whatever its leader's context says
)

// IdentityStore is the Postgres identity graph.
type IdentityStore struct {
	pool      *pgxpool.Pool
	publisher ChangePublisher

	mu      sync.Mutex
	queue   []*write
	leaders int
}

var _ identity.Store = (*IdentityStore)(nil)

// NewIdentityStore returns a store that publishes every committed change through publisher.
func NewIdentityStore(pool *pgxpool.Pool, publisher ChangePublisher) *IdentityStore {
	return &IdentityStore{pool: pool, publisher: publisher}
}

// write is one Update waiting for, or leading, a group.
type write struct {
	req    identity.UpdateRequest
	decide func(*identity.State) (*identity.Plan, error)
	lead   chan struct{} // receives the leadership when a leader hands it on
	handed bool          // the leadership was handed to it (under IdentityStore.mu)
	done   chan struct{} // closed once res/err are set
	res    identity.Result
	err    error
}

// Update implements identity.Store. The caller queues its write; if fewer than maxLeaders
// groups are running it leads one itself, else it waits until its write is committed by
// another leader or the leadership passes to it. No goroutine runs that a caller did not bring.
//
// One group is one transaction that (1) takes transaction-scoped advisory locks on every id and
// message id of the group in sorted order, (2) locks the profiles those ids point at, ordered by
// (project, id), (3) re-reads the mapping and takes the group's version, retrying if a
// concurrent merge moved an id in between, (4) decides each write in order on the shared
// snapshot, and (5) writes the result and one projection job. Lock order is always ids, then
// profiles.
func (s *IdentityStore) Update(ctx context.Context, req identity.UpdateRequest, decide func(*identity.State) (*identity.Plan, error)) (identity.Result, error) {
	w := &write{req: req, decide: decide, lead: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.queue = append(s.queue, w)
	leading := s.leaders < maxLeaders
	if leading {
		s.leaders++
		w.handed = true // it holds a slot: handOn must not give it a second one
	}
	s.mu.Unlock()

	if !leading {
		select {
		case <-w.done:
			s.release(w) // the lead may have come too
			return w.res, w.err
		case <-w.lead:
		case <-ctx.Done():
			s.release(w)
			select {
			case <-w.done: // committed meanwhile: the answer wins over the deadline
				return w.res, w.err
			default:
				return identity.Result{}, ctx.Err()
			}
		}
	}
	s.leadOnce(ctx, w)
	<-w.done
	return w.res, w.err
}

// leadOnce commits one group, which starts with w, and hands the leadership on to the oldest
// queued write, or gives it up. If another leader took w first, it only hands the lead on.
func (s *IdentityStore) leadOnce(ctx context.Context, w *write) {
	s.mu.Lock()
	if !slices.Contains(s.queue, w) {
		// Another leader took w: its caller waits for that group only, not for one of others.
		s.mu.Unlock()
		s.handOn()
		return
	}
	var group []*write
	group, s.queue = pickGroup(s.queue, w)
	s.mu.Unlock()

	if len(group) > 0 {
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupBudget)
		s.commit(gctx, group)
		cancel()
	}
	s.handOn()
}

// pickGroup takes the next group out of queue, within maxGroup writes and maxGroupIDs distinct
// ids: own first if it is still queued (a leader always carries its own write, whatever its
// size), then the writes a caller waits on, oldest first; Background writes, oldest first, only
// into a group that holds none of those, so that a caller's group stays short. Under a flood of
// new visitors hundreds of ObserveAll writes queue at once, and an Identify behind them in
// arrival order waited up to two seconds. What stays queued keeps its order.
func pickGroup(queue []*write, own *write) (group, rest []*write) {
	ids := 0
	taken := make(map[*write]bool)
	take := func(w *write) {
		group = append(group, w)
		ids += len(w.req.DistinctIDs)
		taken[w] = true
	}
	if slices.Contains(queue, own) {
		take(own)
	}
	for _, background := range []bool{false, true} {
		if background && slices.ContainsFunc(group, func(w *write) bool { return !w.req.Background }) {
			break // a caller waits on this group: keep it short
		}
		for _, w := range queue {
			if len(group) == maxGroup {
				break
			}
			fits := len(group) == 0 || ids+len(w.req.DistinctIDs) <= maxGroupIDs
			if !taken[w] && w.req.Background == background && fits {
				take(w)
			}
		}
	}
	rest = make([]*write, 0, len(queue)-len(group))
	for _, w := range queue {
		if !taken[w] {
			rest = append(rest, w)
		}
	}
	return group, rest
}

// handOn passes a leader's slot to the oldest queued write that does not hold one yet, or
// gives the slot up.
func (s *IdentityStore) handOn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.queue {
		if !w.handed {
			w.handed = true
			w.lead <- struct{}{} // buffered, and handed at most once: never blocks
			return
		}
	}
	s.leaders--
}

// release is for a write whose caller stops waiting for the lead: it gave up, or another
// leader committed the write. It takes the write out of the queue if it is still there, and
// if it had been handed the lead, the lead goes on to the next write.
func (s *IdentityStore) release(w *write) {
	s.mu.Lock()
	if i := slices.Index(s.queue, w); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
	}
	promoted := w.handed
	s.mu.Unlock()
	if promoted {
		s.handOn() // it holds a leader's slot it will not use
	}
}

// commit runs one group to the end: retried as a whole on conflicts, and split into single
// writes when it keeps failing, so one bad write can only fail itself.
func (s *IdentityStore) commit(ctx context.Context, group []*write) {
	for attempt := 0; ; attempt++ {
		err := s.tryGroup(ctx, group)
		if err == nil {
			return
		}
		if !retryable(err) || attempt+1 >= maxAttempts {
			if len(group) > 1 {
				for _, w := range group {
					s.commit(ctx, []*write{w})
				}
				return
			}
			if retryable(err) {
				err = fmt.Errorf("%w: %d attempts, last: %v", identity.ErrContention, attempt+1, err)
			}
			group[0].err = err
			close(group[0].done)
			return
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			for _, w := range group {
				w.err = ctx.Err()
				close(w.done)
			}
			return
		case <-time.After(backoff):
		}
	}
}
