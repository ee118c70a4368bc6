package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/internal/fakeclock"
)

// countingStore is an in-memory KeyStore that counts lookups; the cache's own tests need no
// database. (The cache in front of the real store is exercised in TestInterceptorMatrix.)
type countingStore struct {
	mu      sync.Mutex
	keys    map[string]StoredKey
	fail    error
	lookups atomic.Int64
}

func (s *countingStore) LookupKey(_ context.Context, id string) (StoredKey, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return StoredKey{}, s.fail
	}
	k, ok := s.keys[id]
	if !ok {
		return StoredKey{}, fmt.Errorf("lookup %s: %w", id, ErrKeyNotFound)
	}
	return k, nil
}

func (s *countingStore) set(k StoredKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
}

func setupCache(t *testing.T, cfg CacheConfig) (*KeyCache, *countingStore, *fakeclock.Clock) {
	t.Helper()
	store := &countingStore{keys: map[string]StoredKey{}}
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cache := NewKeyCache(store, cfg)
	cache.now = clock.Now
	return cache, store, clock
}

func TestKeyCacheTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache, store, clock := setupCache(t, CacheConfig{})
	live := StoredKey{ID: "key_a", ProjectID: "proj_a", Kind: KindSecret, SecretHash: []byte("h")}
	store.set(live)

	for range 5 {
		got, err := cache.LookupKey(ctx, "key_a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(live, got); diff != "" {
			t.Fatalf("cached key (-want +got):\n%s", diff)
		}
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups for 5 cached reads, want 1", n)
	}

	revoked := live
	revoked.Revoked = true
	store.set(revoked)
	clock.Advance(DefaultCacheTTL - time.Millisecond)
	if got, _ := cache.LookupKey(ctx, "key_a"); got.Revoked {
		t.Fatal("revocation seen before the TTL passed; the cache is not caching")
	}
	clock.Advance(time.Millisecond)
	if got, _ := cache.LookupKey(ctx, "key_a"); !got.Revoked {
		t.Fatal("revocation not seen once the TTL passed")
	}

	// Negative answers are cached too.
	for range 3 {
		if _, err := cache.LookupKey(ctx, "key_missing"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("missing key: %v, want ErrKeyNotFound", err)
		}
	}
	if n := store.lookups.Load(); n != 3 {
		t.Fatalf("%d store lookups, want 3 (key_a twice, key_missing once)", n)
	}

	cache.Forget("key_a")
	if _, err := cache.LookupKey(ctx, "key_a"); err != nil {
		t.Fatal(err)
	}
	if n := store.lookups.Load(); n != 4 {
		t.Fatalf("Forget did not drop the entry: %d store lookups, want 4", n)
	}
}

func TestKeyCacheDoesNotCacheFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache, store, _ := setupCache(t, CacheConfig{})
	store.set(StoredKey{ID: "key_a", ProjectID: "proj_a", Kind: KindSDK})
	store.fail = errors.New("connection refused")
	if _, err := cache.LookupKey(ctx, "key_a"); err == nil || errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("store failure: %v, want the store's error", err)
	}
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()
	if _, err := cache.LookupKey(ctx, "key_a"); err != nil {
		t.Fatalf("after the store recovered: %v (the failure was cached)", err)
	}
}

func TestKeyCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache, _, clock := setupCache(t, CacheConfig{TTL: time.Second, MaxEntries: 100})
	for i := range 1000 {
		_, _ = cache.LookupKey(ctx, fmt.Sprintf("key_%d", i))
		if i%250 == 0 {
			clock.Advance(time.Second) // let sweeps find expired entries too
		}
	}
	if n := cache.Len(); n > 100 {
		t.Fatalf("cache holds %d entries, bound is 100", n)
	}
}

func TestKeyCacheConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache, store, clock := setupCache(t, CacheConfig{TTL: time.Millisecond, MaxEntries: 16})
	for i := range 8 {
		store.set(StoredKey{ID: fmt.Sprintf("key_%d", i), ProjectID: "proj_a", Kind: KindSDK})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprintf("key_%d", (g+i)%20) // 8 found, 12 missing
				k, err := cache.LookupKey(ctx, id)
				if err == nil && k.ID != id {
					t.Errorf("LookupKey(%s) returned %s", id, k.ID)
				}
				if i%50 == 0 {
					clock.Advance(time.Millisecond)
					cache.Forget(id)
				}
			}
		})
	}
	wg.Wait()
}
