package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// KeyStore finds API keys by id. Every authenticated request asks it, so put a KeyCache in
// front of a database-backed one.
type KeyStore interface {
	// LookupKey returns the key with this id whether or not it is revoked. It returns
	// ErrKeyNotFound when there is none; any other error means the store could not answer.
	LookupKey(ctx context.Context, id string) (StoredKey, error)
}

// StoredKey is what a KeyStore holds of a key: never the token, only the hash of its secret.
type StoredKey struct {
	ID         string
	ProjectID  string
	Kind       Kind
	SecretHash []byte
	Revoked    bool
}

// Cache defaults.
const (
	DefaultCacheTTL        = 10 * time.Second
	DefaultCacheMaxEntries = 10_000
)

// CacheConfig configures a KeyCache. Zero values take the defaults.
type CacheConfig struct {
	// TTL is how long an answer (found, revoked or not found) is reused. It is also the longest
	// a revoked key keeps working on a process other than the one that revoked it.
	TTL time.Duration
	// MaxEntries bounds memory under a flood of random key ids.
	MaxEntries int
}

// KeyCache is a KeyStore that remembers its store's answers for a TTL, found and not found
// alike, so that a burst of requests with one key (or a flood of unknown ids) costs one lookup
// per TTL. Store errors other than ErrKeyNotFound are not cached.
//
// Revocation is therefore not instant: a revoked key keeps authenticating for up to TTL (10 s by
// default) on each process that cached it (TestInterceptorMatrix/revoked pins that it stops).
// Forget drops one id at once, for the process that revoked it.
//
// It is safe for concurrent use.
type KeyCache struct {
	store KeyStore
	ttl   time.Duration
	max   int
	now   func() time.Time // tests replace it

	mu        sync.RWMutex
	entries   map[string]cacheEntry
	lastSweep time.Time
}

type cacheEntry struct {
	key     StoredKey
	found   bool
	expires time.Time
}

// NewKeyCache puts a cache in front of store.
func NewKeyCache(store KeyStore, cfg CacheConfig) *KeyCache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultCacheTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultCacheMaxEntries
	}
	return &KeyCache{
		store:   store,
		ttl:     cfg.TTL,
		max:     cfg.MaxEntries,
		now:     time.Now,
		entries: make(map[string]cacheEntry),
	}
}

// LookupKey answers from the cache when it holds a live answer for id, and asks the store
// otherwise. It returns ErrKeyNotFound for an id known not to exist.
func (c *KeyCache) LookupKey(ctx context.Context, id string) (StoredKey, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		if !e.found {
			return StoredKey{}, ErrKeyNotFound
		}
		return e.key, nil
	}

	key, err := c.store.LookupKey(ctx, id)
	switch {
	case err == nil:
		c.put(id, cacheEntry{key: key, found: true, expires: now.Add(c.ttl)})
		return key, nil
	case errors.Is(err, ErrKeyNotFound):
		c.put(id, cacheEntry{expires: now.Add(c.ttl)})
		return StoredKey{}, err
	default:
		return StoredKey{}, err
	}
}

// Forget drops whatever the cache holds for id, so this process sees a revocation at once.
func (c *KeyCache) Forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// Len reports how many answers the cache holds, expired ones included.
func (c *KeyCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

func (c *KeyCache) put(id string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		c.evictLocked()
	}
	c.entries[id] = e
}

// evictLocked makes room for one entry: it drops every expired entry (at most once per half
// TTL, so a full cache under a flood does not scan on every insert), and failing that one
// arbitrary entry (map order is unspecified, which is as good as random here).
func (c *KeyCache) evictLocked() {
	now := c.now()
	if now.Sub(c.lastSweep) >= c.ttl/2 {
		c.lastSweep = now
		for id, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, id)
			}
		}
		if len(c.entries) < c.max {
			return
		}
	}
	for id := range c.entries {
		delete(c.entries, id)
		return
	}
}
