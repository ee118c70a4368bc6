package profiles

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/poluruprvn/profiles/events"
)

// FigureCache keeps the event figures of profiles between the events that change them, so that
// a Get or a List page asks the event store only about profiles whose events changed since it
// last asked. A ClickHouse point read costs milliseconds of server CPU (about 5 ms on 18.16),
// which held Get near 300 requests/s on two cores whatever else was fast.
//
// Freshness comes from an invalidation feed, not from a time to live: whoever stores events
// announces their (project, distinct id) once they are readable (jobs.EventBatchWorker, through
// postgres.FigureFeed), and the feed's listener in every serving process calls Invalidate. An
// entry is keyed by the exact id group it was read for (a merge or an alias makes another group,
// so another key), and it remembers the epoch of each of its ids' buckets as of just BEFORE its
// read: an announcement that arrives during or after the read bumps an epoch, and the entry is
// never served again. Without a connected feed (SetLive(false), the state NewFigureCache starts
// in) nothing is cached and every read goes to the event store. TestFigureCache pins these rules.
type FigureCache struct {
	entries *lru.Cache[string, figureEntry]
	epochs  []atomic.Uint32 // one per bucket of SubjectHash
	// gen changes whenever the feed connects or drops: entries of another generation may have
	// missed announcements.
	mu     sync.RWMutex
	gen    uint64
	live   bool
	hits   atomic.Uint64
	misses atomic.Uint64
}

type figureEntry struct {
	stats  EventStats
	gen    uint64
	epochs []uint32 // of the group's ids' buckets, in the group's order
}

// figureTicket is what a read knew before it asked the event store.
type figureTicket struct {
	key    string
	gen    uint64
	epochs []uint32
}

// figureBuckets is the number of invalidation buckets (4 MiB of epochs). Announcing an id
// invalidates every cached group holding an id of its bucket: with a million buckets, even
// 30,000 announced ids a second leave 97% of entries untouched for a second.
const figureBuckets = 1 << 20

// NewFigureCache returns a cache of at most entries groups (entries > 0), not live.
func NewFigureCache(entries int) *FigureCache {
	c, err := lru.New[string, figureEntry](entries)
	if err != nil {
		panic("profiles: NewFigureCache: " + err.Error())
	}
	return &FigureCache{entries: c, epochs: make([]atomic.Uint32, figureBuckets)}
}

// SubjectHash is the hash an announcement carries for one distinct id of a project: the low
// 32 bits of events.Subject.Hash.
func SubjectHash(projectID, distinctID string) uint32 {
	return uint32(events.Subject{ProjectID: projectID, DistinctID: distinctID}.Hash())
}

// Invalidate drops every entry holding an id with one of the announced hashes.
func (c *FigureCache) Invalidate(hashes []uint32) {
	for _, h := range hashes {
		c.epochs[h%figureBuckets].Add(1)
	}
}

// SetLive says whether the invalidation feed is connected. Either change empties the cache:
// while the feed was down, announcements may have been missed.
func (c *FigureCache) SetLive(live bool) {
	c.mu.Lock()
	c.gen++
	c.live = live
	c.mu.Unlock()
	c.entries.Purge()
}

// Counts returns how many group reads the cache answered and how many it passed on.
func (c *FigureCache) Counts() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Wrap returns e with its Stats answered from the cache where possible.
func (c *FigureCache) Wrap(e Events) Events { return cachedEvents{Events: e, cache: c} }

func (c *FigureCache) generation() (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen, c.live
}

func groupKey(projectID string, ids []string) string {
	return projectID + "\x00" + strings.Join(ids, "\x00")
}

// bucket is the epoch of the invalidation bucket of one id.
func (c *FigureCache) bucket(projectID, id string) *atomic.Uint32 {
	return &c.epochs[SubjectHash(projectID, id)%figureBuckets]
}

func (c *FigureCache) epochsOf(projectID string, ids []string) []uint32 {
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = c.bucket(projectID, id).Load()
	}
	return out
}

func (c *FigureCache) get(projectID string, ids []string) (EventStats, bool) {
	gen, live := c.generation()
	if !live {
		return EventStats{}, false
	}
	key := groupKey(projectID, ids)
	e, ok := c.entries.Get(key)
	if !ok || e.gen != gen {
		return EventStats{}, false
	}
	for i, id := range ids {
		if c.bucket(projectID, id).Load() != e.epochs[i] {
			c.entries.Remove(key)
			return EventStats{}, false
		}
	}
	return e.stats, true
}

// ticket must be taken before the read whose answer put stores.
func (c *FigureCache) ticket(projectID string, ids []string) figureTicket {
	gen, _ := c.generation()
	return figureTicket{key: groupKey(projectID, ids), gen: gen, epochs: c.epochsOf(projectID, ids)}
}

func (c *FigureCache) put(t figureTicket, s EventStats) {
	if gen, live := c.generation(); live && gen == t.gen {
		c.entries.Add(t.key, figureEntry{stats: s, gen: t.gen, epochs: t.epochs})
	}
}

// cachedEvents answers Stats from a FigureCache and passes everything else on.
type cachedEvents struct {
	Events
	cache *FigureCache
}

// Stats implements Events: one call to the wrapped Events for all the groups it misses.
func (w cachedEvents) Stats(ctx context.Context, projectID string, groups [][]string) ([]EventStats, error) {
	out := make([]EventStats, len(groups))
	var (
		missed  []int
		asked   [][]string
		tickets []figureTicket
	)
	for i, g := range groups {
		if s, ok := w.cache.get(projectID, g); ok {
			out[i] = s
			continue
		}
		missed = append(missed, i)
		asked = append(asked, g)
		tickets = append(tickets, w.cache.ticket(projectID, g))
	}
	w.cache.hits.Add(uint64(len(groups) - len(missed)))
	w.cache.misses.Add(uint64(len(missed)))
	if len(missed) == 0 {
		return out, nil
	}
	stats, err := w.Events.Stats(ctx, projectID, asked)
	if err != nil {
		return nil, err
	}
	for j, i := range missed {
		out[i] = stats[j]
		w.cache.put(tickets[j], stats[j])
	}
	return out, nil
}
