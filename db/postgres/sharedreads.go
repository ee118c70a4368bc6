package postgres

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/poluruprvn/profiles/profiles"
)

// Shared reads: a caller joins a running read of its key only in the read's first
// collectAllJoin, and a read that every caller has left is cancelled. It is never cancelled
// while someone waits for it, whatever the context of the caller that started it, within
// collectAllTimeout.
const (
	collectAllJoin    = time.Second
	collectAllTimeout = 30 * time.Second
)

// sharedReads runs one read per key for the callers that come while it is young. The zero
// value is ready to use.
type sharedReads struct {
	mu      sync.Mutex
	running map[string]*sharedRead // the read a caller of the key may join
}

type sharedRead struct {
	started time.Time
	waiters int
	cancel  context.CancelFunc
	done    chan struct{} // closed once recs, n and err are set
	recs    []profiles.Record
	n       int
	err     error
}

// do returns the answer of read for key, run by this caller or shared with others. Each caller
// gets its own slice of the records; the records' maps are shared and must not be changed.
func (s *sharedReads) do(ctx context.Context, key string, read func(context.Context) ([]profiles.Record, int, error)) ([]profiles.Record, int, error) {
	s.mu.Lock()
	r := s.running[key]
	if r == nil || time.Since(r.started) > collectAllJoin {
		r = s.start(ctx, key, read)
	}
	r.waiters++
	s.mu.Unlock()

	select {
	case <-r.done:
		return slices.Clone(r.recs), r.n, r.err
	case <-ctx.Done():
		s.mu.Lock()
		if r.waiters--; r.waiters == 0 {
			r.cancel() // nobody wants it any more
			s.forget(key, r)
		}
		s.mu.Unlock()
		return nil, 0, ctx.Err()
	}
}

// start runs read for key as its joinable read; s.mu is held.
func (s *sharedReads) start(ctx context.Context, key string, read func(context.Context) ([]profiles.Record, int, error)) *sharedRead {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collectAllTimeout)
	r := &sharedRead{started: time.Now(), cancel: cancel, done: make(chan struct{})}
	if s.running == nil {
		s.running = map[string]*sharedRead{}
	}
	s.running[key] = r
	go func() {
		recs, n, err := read(rctx)
		cancel()
		s.mu.Lock()
		r.recs, r.n, r.err = recs, n, err
		s.forget(key, r)
		s.mu.Unlock()
		close(r.done)
	}()
	return r
}

// forget makes r no longer joinable; s.mu is held.
func (s *sharedReads) forget(key string, r *sharedRead) {
	if s.running[key] == r {
		delete(s.running, key)
	}
}
