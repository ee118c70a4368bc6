package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// statsReads shares ClickHouse reads of event figures among concurrent callers: group commit
// for reads. A ClickHouse query has a fixed cost of milliseconds of server CPU, and one for
// fifty profiles costs a few times one for a single profile, so concurrent Gets that each asked
// on their own held the read path near 300 a second on two cores.
//
// Reads are per project, as EventStats is, and a project runs one query at a time: a caller that
// finds its project idle and a slot free runs its query at once (no added latency when idle);
// callers that come while their project's query runs, or while every slot is taken, join the
// read that waits for it, up to statsReadMaxIDs ids, and all of them get their answers from its
// one query. ClickHouse 18.16 spends most of a small query on its fixed cost, so one query per
// project gathers more callers and costs less: cold Gets of one project at 32 clients went from
// 1,300 a second (p99 45 ms) with four queries at a time to 1,950 (p99 25 ms) with one. A read
// waits for its project's previous query for statsReadPatience at most, so that one stuck query
// cannot hold every Get of its project. At most statsReadSlots queries run at once over all
// projects. Identical groups (two Gets of one
// profile) share one place in the query; a group that overlaps another without equalling it (a
// merge happened between two reads) waits for a read of its own, since EventStats counts each id
// in one group only. TestStatsReadsShareQueries pins this.
type statsReads struct {
	conn     driver.Conn
	slots    chan struct{}
	patience time.Duration // statsReadPatience; tests shorten or lengthen it
	queries  atomic.Int64  // run so far

	mu   sync.Mutex
	open map[string]*statsRead // per project: the read still taking callers
	last map[string]*statsRead // per project: the newest read with a leader, until it is done
}

// Coalescing limits: statsReadSlots queries in flight, each for at most statsReadMaxIDs ids (a
// query of 500 ids takes some 30 ms on 18.16; more would hold its first callers too long).
const (
	statsReadSlots   = 4
	statsReadMaxIDs  = 500
	statsReadTimeout = 2 * defaultMaxExecutionTime * time.Second
	// statsReadPatience is some thirty times a slow query of statsReadMaxIDs ids.
	statsReadPatience = time.Second
)

func newStatsReads(conn driver.Conn) *statsReads {
	return &statsReads{conn: conn, slots: make(chan struct{}, statsReadSlots), patience: statsReadPatience,
		open: map[string]*statsRead{}, last: map[string]*statsRead{}}
}

// statsRead is one query's worth of groups and, once done is closed, its answers.
type statsRead struct {
	after  *statsRead // the project's read before this one: this one runs once it is done
	groups [][]string
	at     map[string]int // groupKey -> position in groups
	owner  map[string]int // distinct id -> position of its group
	ids    int
	joined int // callers sharing it
	done   chan struct{}
	stats  []Stats
	err    error
}

func newStatsRead() *statsRead {
	return &statsRead{at: map[string]int{}, owner: map[string]int{}, done: make(chan struct{})}
}

// join adds groups and returns their positions, or false when they do not fit: a group
// overlapping another one without equalling it (the read's or the caller's own), or too many
// ids (a new read takes any number).
func (r *statsRead) join(groups [][]string) ([]int, bool) {
	fresh := len(r.groups) == 0
	pos := make([]int, len(groups))
	var add [][]string
	var addKeys []string
	added := map[string]int{} // groupKey -> position, for groups this call adds
	claimed := map[string]bool{}
	n := 0
	for i, g := range groups {
		key := groupKey(g)
		if p, ok := r.at[key]; ok {
			pos[i] = p
			continue
		}
		if p, ok := added[key]; ok {
			pos[i] = p
			continue
		}
		for _, id := range g {
			if _, taken := r.owner[id]; taken || claimed[id] {
				return nil, false
			}
		}
		for _, id := range g {
			claimed[id] = true
		}
		pos[i] = len(r.groups) + len(add)
		added[key] = pos[i]
		add = append(add, g)
		addKeys = append(addKeys, key)
		n += len(g)
	}
	if !fresh && r.ids+n > statsReadMaxIDs {
		return nil, false
	}
	for j, g := range add {
		at := len(r.groups) + j
		r.at[addKeys[j]] = at
		for _, id := range g {
			r.owner[id] = at
		}
	}
	r.groups = append(r.groups, add...)
	r.ids += n
	return pos, true
}

// groupKey names a group by its ids; identity refuses control characters in ids, so NUL
// separates them unambiguously.
func groupKey(ids []string) string { return strings.Join(ids, "\x00") }

// stats returns EventStats(projectID, groups), from a query it may share with other callers.
func (s *statsReads) stats(ctx context.Context, projectID string, groups [][]string) ([]Stats, error) {
	if len(groups) == 0 {
		return []Stats{}, nil // an empty page: nothing to ask
	}
	s.mu.Lock()
	read := s.open[projectID]
	var pos []int
	ok := false
	if read != nil {
		pos, ok = read.join(groups)
	}
	lead := !ok
	if lead {
		read = newStatsRead()
		if pos, ok = read.join(groups); !ok {
			// The caller's own groups overlap: no read can hold them. EventStats refuses them
			// (without a query), to this caller alone.
			s.mu.Unlock()
			return EventStats(ctx, s.conn, projectID, groups)
		}
		read.after = s.last[projectID]
		s.open[projectID] = read
		s.last[projectID] = read
	}
	read.joined++
	s.mu.Unlock()

	if lead {
		// Others may join and wait on it, so the read runs to the end whether or not this
		// caller still wants it; the caller waits like any other, and may give up.
		go s.lead(context.WithoutCancel(ctx), projectID, read)
	}
	select {
	case <-read.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if read.err != nil {
		return nil, read.err
	}
	out := make([]Stats, len(groups))
	for i, p := range pos {
		out[i] = read.stats[p]
	}
	return out, nil
}

// lead waits for the project's previous read and a slot, closes the read to newcomers and runs
// it.
func (s *statsReads) lead(ctx context.Context, projectID string, read *statsRead) {
	if read.after != nil {
		wait := time.NewTimer(s.patience)
		select {
		case <-read.after.done:
		case <-wait.C:
		}
		wait.Stop()
		read.after = nil // let it go
	}
	s.slots <- struct{}{}
	s.mu.Lock()
	if s.open[projectID] == read {
		delete(s.open, projectID)
	}
	s.mu.Unlock()
	qctx, cancel := context.WithTimeout(ctx, statsReadTimeout)
	read.stats, read.err = s.query(qctx, projectID, read.groups)
	s.queries.Add(1)
	cancel()
	<-s.slots
	s.mu.Lock()
	if s.last[projectID] == read {
		delete(s.last, projectID)
	}
	s.mu.Unlock()
	close(read.done)
}

// query runs EventStats, turning a panic into the read's error: it runs in a goroutine of its
// own, beyond the reach of the HTTP server's recovery.
func (s *statsReads) query(ctx context.Context, projectID string, groups [][]string) (stats []Stats, err error) {
	defer func() {
		if p := recover(); p != nil {
			stats, err = nil, fmt.Errorf("clickhouse: event stats panicked: %v", p)
		}
	}()
	return EventStats(ctx, s.conn, projectID, groups)
}
