package identity

import (
	"context"
	"time"
)

// Store loads a locked snapshot of the identity graph and applies plans to it atomically.
type Store interface {
	// Update locks the distinct ids of req (and its message id) in one transaction, loads their
	// profiles into a State, calls decide, and applies the Plan it returns together with the
	// Change that projects it, before committing. When req carries a message id already
	// answered, Update returns that Result with Replayed set and calls nothing.
	//
	// decide may run more than once: the Store rolls back and retries, within a bound, when a
	// concurrent merge moved an id or the database reports a deadlock or serialization
	// failure; past the bound it returns ErrContention. Errors from decide are returned as-is
	// and nothing is written.
	Update(ctx context.Context, req UpdateRequest, decide func(*State) (*Plan, error)) (Result, error)
}

// UpdateRequest names what one write touches.
type UpdateRequest struct {
	ProjectID   string
	DistinctIDs []string
	ProfileIDs  []string // profiles to lock by id, for edits of one profile
	Method      string   // "identify", "alias", ...: message ids are unique per method
	MessageID   string   // optional idempotency key
	// Background marks a write no caller waits on interactively (the event worker's
	// ObserveAll): a Store that groups writes lets the others go first.
	Background bool
}

// State is the locked snapshot a rule decides on.
type State struct {
	// Profiles maps each requested distinct id that is known to its profile (possibly deleted).
	Profiles map[string]*Profile
	// ByID holds every locked profile: those of Profiles and those asked for by id.
	ByID map[string]*Profile
	// Version is the version every row written by this change carries. It is taken after the
	// locks, so it is higher than that of any earlier change to the same rows.
	Version int64
	Now     time.Time
}

// Checkpoint returns a function that puts st back as it is now. A store that decides several
// requests on one State, one after another, undoes with it a request whose rule failed, so the
// next request sees the graph without it.
func (st *State) Checkpoint() (restore func()) {
	profiles := make(map[string]*Profile, len(st.Profiles))
	for k, v := range st.Profiles {
		profiles[k] = v
	}
	byID := make(map[string]*Profile, len(st.ByID))
	values := make(map[*Profile]Profile, len(st.ByID))
	for k, v := range st.ByID {
		byID[k] = v
		values[v] = *v
	}
	return func() {
		st.Profiles, st.ByID = profiles, byID
		for p, v := range values {
			*p = v
		}
	}
}

// Plan is what a rule decided to write.
type Plan struct {
	Upserts []*Profile // profiles created or changed, in full, carrying State.Version
	Merges  []Merge    // move every distinct id of From to Into
	Links   []Link     // point a distinct id (new, or moving off a deleted profile) at a profile
	Result  Result
}

// Merge moves all distinct ids of From to Into. From is also in Upserts, marked merged.
type Merge struct{ From, Into string }

// Link points DistinctID at ProfileID.
type Link struct{ DistinctID, ProfileID string }

// Change is what the read model must learn from one committed write: which profiles it touched
// and every distinct id that now points somewhere new, all at Version. The projection reads the
// touched profiles as they are when it runs (never older than Version), so a Change stays small
// and applying one twice, late, or after a newer one leaves the read model at the newest state.
type Change struct {
	ProjectID  string
	Version    int64
	ProfileIDs []string
	Mappings   []Mapping
}

// Snapshot is a profile as the read model shows it: effective traits (overrides applied).
type Snapshot struct {
	ProjectID  string
	ID         string
	ExternalID string
	Traits     Traits
	MergedInto string
	Deleted    bool
	Version    int64
	UpdatedAt  time.Time
}

// Mapping says DistinctID belongs to ProfileID from Version on. Its JSON names are those of the
// projection jobs of releases before 2026-12, which still decode.
type Mapping struct {
	DistinctID string `json:"distinctId"`
	ProfileID  string `json:"profileId"`
	Version    int64  `json:"version"`
}
