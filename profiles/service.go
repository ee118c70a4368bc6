package profiles

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poluruprvn/profiles/identity"
)

// Lookup names one profile by exactly one of its external id, its profile id or any of its
// distinct ids. A merged-away profile id or distinct id finds the profile it was merged into.
type Lookup struct {
	ExternalID string
	ProfileID  string
	DistinctID string
}

func (l Lookup) validate() error {
	set := 0
	for _, f := range []struct{ name, v string }{{"externalId", l.ExternalID}, {"profileId", l.ProfileID}, {"distinctId", l.DistinctID}} {
		if f.v == "" {
			continue
		}
		set++
		if err := identity.ValidateID(f.name, f.v); err != nil {
			return err
		}
	}
	switch {
	case set == 0:
		return &identity.FieldError{Field: "externalId", Reason: "must not be empty (or give profileId or distinctId instead)"}
	case set > 1:
		return &identity.FieldError{Field: "externalId", Reason: "give only one of externalId, profileId or distinctId"}
	}
	return nil
}

// Record is a profile as Postgres holds it.
type Record struct {
	ID          string
	ExternalID  string
	Traits      identity.Traits // effective: overrides applied
	Deleted     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DistinctIDs []string
}

// Profile is a Record with the figures derived from its events.
type Profile struct {
	Record
	FirstSeen  time.Time
	LastSeen   time.Time
	EventCount uint64
}

// Store reads profiles from the system of record.
type Store interface {
	// Find resolves l, following merges, and returns the profile even when it is deleted.
	// It returns identity.ErrNotFound when no profile answers to l.
	Find(ctx context.Context, projectID string, l Lookup) (Record, error)
	// List returns one page of live profiles matching q and the number of all matches when it
	// came cheap, or -1 for Count to make.
	List(ctx context.Context, projectID string, q Query) ([]Record, int, error)
	// Count returns the number of live profiles matching q, whatever its page.
	Count(ctx context.Context, projectID string, q Query) (int, error)
}

// EventStats are the figures of the events of one profile's distinct ids.
type EventStats struct {
	Count       uint64
	First, Last time.Time
}

// Event is one tracked event in a profile's history.
type Event struct {
	Name       string
	DistinctID string
	Properties map[string]any
	Timestamp  time.Time
	MessageID  string
}

// Events reads event figures and history from the event store.
type Events interface {
	// Stats returns the figures of each group of distinct ids (the ids of one profile), in
	// order; a group without events gets zero EventStats. Each event counts once per group,
	// whichever of the group's ids it was sent under, however often it was received.
	Stats(ctx context.Context, projectID string, groups [][]string) ([]EventStats, error)
	// History returns up to limit events of the ids, newest first, after the opaque cursor,
	// and the cursor of the next page ("" at the end).
	History(ctx context.Context, projectID string, distinctIDs []string, cursor string, limit int) ([]Event, string, error)
}

// Service answers ProfilesService: reads from Postgres and the event store, edits through the
// identity rules.
type Service struct {
	store    Store
	events   Events
	identity *identity.Service
	totals   *totals
}

// NewService returns a Service.
func NewService(store Store, events Events, ids *identity.Service) *Service {
	return &Service{store: store, events: events, identity: ids, totals: newTotals()}
}

// Get returns a live profile with its event figures.
func (s *Service) Get(ctx context.Context, projectID string, l Lookup) (Profile, error) {
	rec, err := s.findLive(ctx, projectID, l)
	if err != nil {
		return Profile{}, err
	}
	out, err := s.withStats(ctx, projectID, []Record{rec})
	if err != nil {
		return Profile{}, err
	}
	return out[0], nil
}

func (s *Service) findLive(ctx context.Context, projectID string, l Lookup) (Record, error) {
	if err := l.validate(); err != nil {
		return Record{}, err
	}
	rec, err := s.store.Find(ctx, projectID, l)
	if err != nil {
		return Record{}, err
	}
	if rec.Deleted {
		return Record{}, identity.ErrNotFound
	}
	return rec, nil
}

// withStats adds event figures with one event-store query for all records. A profile without
// events was first seen when created and last seen when last changed.
func (s *Service) withStats(ctx context.Context, projectID string, recs []Record) ([]Profile, error) {
	groups := make([][]string, len(recs))
	for i, r := range recs {
		groups[i] = r.DistinctIDs
	}
	stats, err := s.events.Stats(ctx, projectID, groups)
	if err != nil {
		return nil, fmt.Errorf("event stats: %w", err)
	}
	out := make([]Profile, len(recs))
	for i, r := range recs {
		p := Profile{Record: r, FirstSeen: r.CreatedAt, LastSeen: r.UpdatedAt, EventCount: stats[i].Count}
		if st := stats[i]; st.Count > 0 {
			if st.First.Before(p.FirstSeen) {
				p.FirstSeen = st.First
			}
			if st.Last.After(p.LastSeen) {
				p.LastSeen = st.Last
			}
		}
		out[i] = p
	}
	return out, nil
}

// Delete soft-deletes the profile l names and returns its id. Deleting a deleted profile again
// answers the same, so a retried Delete is harmless.
func (s *Service) Delete(ctx context.Context, projectID string, l Lookup) (string, error) {
	if err := l.validate(); err != nil {
		return "", err
	}
	rec, err := s.store.Find(ctx, projectID, l)
	if err != nil {
		return "", err
	}
	if rec.Deleted {
		return rec.ID, nil
	}
	res, err := s.identity.Delete(ctx, projectID, rec.ID)
	return res.ProfileID, err
}

// Restore brings back a soft-deleted profile. Restoring a live profile is a no-op.
func (s *Service) Restore(ctx context.Context, projectID string, l Lookup) (Profile, error) {
	if err := l.validate(); err != nil {
		return Profile{}, err
	}
	rec, err := s.store.Find(ctx, projectID, l)
	if err != nil {
		return Profile{}, err
	}
	if _, err := s.identity.Restore(ctx, projectID, rec.ID, rec.ExternalID); err != nil {
		return Profile{}, err
	}
	return s.Get(ctx, projectID, Lookup{ProfileID: rec.ID})
}

// SetOverrides sets server-side traits on the profile l names.
func (s *Service) SetOverrides(ctx context.Context, projectID string, l Lookup, traits identity.Traits) (Profile, error) {
	rec, err := s.findLive(ctx, projectID, l)
	if err != nil {
		return Profile{}, err
	}
	res, err := s.identity.SetOverrides(ctx, projectID, rec.ID, traits)
	if err != nil {
		return Profile{}, err
	}
	return s.Get(ctx, projectID, Lookup{ProfileID: res.ProfileID})
}

// RemoveOverrides removes server-side traits by key.
func (s *Service) RemoveOverrides(ctx context.Context, projectID string, l Lookup, keys []string) (Profile, error) {
	rec, err := s.findLive(ctx, projectID, l)
	if err != nil {
		return Profile{}, err
	}
	res, err := s.identity.RemoveOverrides(ctx, projectID, rec.ID, keys)
	if err != nil {
		return Profile{}, err
	}
	return s.Get(ctx, projectID, Lookup{ProfileID: res.ProfileID})
}

// History limits.
const (
	DefaultHistoryPage = 50
	MaxHistoryPage     = 500
)

// History returns a page of the profile's events, newest first, including those of every
// distinct id merged into it.
func (s *Service) History(ctx context.Context, projectID string, l Lookup, pageSize int, cursor string) ([]Event, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultHistoryPage
	case pageSize < 0 || pageSize > MaxHistoryPage:
		return nil, "", &identity.FieldError{Field: "pageSize", Reason: fmt.Sprintf("must be between 1 and %d", MaxHistoryPage)}
	}
	rec, err := s.findLive(ctx, projectID, l)
	if err != nil {
		return nil, "", err
	}
	events, next, err := s.events.History(ctx, projectID, rec.DistinctIDs, cursor, pageSize)
	if errors.Is(err, ErrBadCursor) {
		return nil, "", &identity.FieldError{Field: "pageToken", Reason: "not a token this API returned"}
	}
	return events, next, err
}

// ErrBadCursor is returned by Events.History for a cursor it did not make.
var ErrBadCursor = errors.New("bad cursor")
