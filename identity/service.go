package identity

import "context"

// Service applies the identity rules through a Store.
type Service struct {
	store  Store
	limits Limits
}

// NewService returns a Service writing through store with DefaultLimits.
func NewService(store Store) *Service {
	return &Service{store: store, limits: DefaultLimits}
}

// MaxObserveIDs bounds the ids of one ObserveAll: each is an advisory lock and, when unknown,
// two rows of one transaction.
const MaxObserveIDs = 256

// ObserveAll makes sure each of distinctIDs has a profile, creating an anonymous one for each
// that is unknown, so that a later Identify finds the anonymous profile to merge. Event
// ingestion calls it for the ids it sees, many in one write: a batch of events meets thousands
// of new visitors, and one write per visitor made anonymous profiles at Identify's rate, slower
// than TrackBatch brings them. An id of a deleted profile is known: its events do not revive
// it. Ids that identity refuses are left without a profile and returned in refused; the rest
// are written.
func (s *Service) ObserveAll(ctx context.Context, projectID string, distinctIDs []string) (refused []string, err error) {
	if len(distinctIDs) > MaxObserveIDs {
		return nil, fieldErr("distinctIds", "must hold at most %d ids, got %d", MaxObserveIDs, len(distinctIDs))
	}
	ids := make([]string, 0, len(distinctIDs))
	for _, id := range distinctIDs {
		if ValidateID("anonymousId", id) != nil {
			refused = append(refused, id)
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return refused, nil
	}
	_, err = s.store.Update(ctx, UpdateRequest{
		ProjectID:   projectID,
		DistinctIDs: ids,
		Method:      "observe",
		Background:  true,
	}, func(st *State) (*Plan, error) {
		pl := newPlanner(st)
		for _, id := range ids {
			if _, known := st.Profiles[id]; !known {
				pl.link(id, pl.create(""))
			}
		}
		pl.plan.Upserts = pl.order // no Result: the write answers no one profile
		return &pl.plan, nil
	})
	return refused, err
}
