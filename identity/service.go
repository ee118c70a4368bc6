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

// Observe makes sure distinctID has a profile, creating an anonymous one when it is unknown.
// Event ingestion calls it for the anonymous ids it sees, so that a later Identify finds the
// anonymous profile to merge.
func (s *Service) Observe(ctx context.Context, projectID, distinctID string) (Result, error) {
	if err := ValidateID("anonymousId", distinctID); err != nil {
		return Result{}, err
	}
	return s.store.Update(ctx, UpdateRequest{
		ProjectID:   projectID,
		DistinctIDs: []string{distinctID},
		Method:      "observe",
	}, func(st *State) (*Plan, error) {
		pl := newPlanner(st)
		if p := pl.profileOf(distinctID); p != nil {
			return pl.finish(p, OutcomeUpdated, nil), nil
		}
		p := pl.create("")
		pl.link(distinctID, p)
		return pl.finish(p, OutcomeCreated, nil), nil
	})
}
