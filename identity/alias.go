package identity

import "context"

// AliasRequest is one Alias call.
type AliasRequest struct {
	PreviousID           string
	ExternalID           string
	MessageID            string
	AllowIdentifiedMerge bool
}

func (r AliasRequest) validate() error {
	if err := ValidateID("previousId", r.PreviousID); err != nil {
		return err
	}
	if err := ValidateID("externalId", r.ExternalID); err != nil {
		return err
	}
	return validateMessageID("messageId", r.MessageID)
}

// Alias makes req.PreviousID one of req.ExternalID's distinct ids (SPEC.md, identity rule 2).
// Merging two profiles identified with different external ids is refused with a
// *MergeRefusedError unless req.AllowIdentifiedMerge is set.
func (s *Service) Alias(ctx context.Context, projectID string, req AliasRequest) (Result, error) {
	if err := req.validate(); err != nil {
		return Result{}, err
	}
	return s.store.Update(ctx, UpdateRequest{
		ProjectID:   projectID,
		DistinctIDs: []string{req.ExternalID, req.PreviousID},
		Method:      "alias",
		MessageID:   req.MessageID,
	}, func(st *State) (*Plan, error) { return planAlias(st, req) })
}

// planAlias is rule 2 of SPEC.md. Each branch is pinned by a test in alias_test.go.
func planAlias(st *State, req AliasRequest) (*Plan, error) {
	pl := newPlanner(st)
	known := pl.profileOf(req.ExternalID)
	prev := pl.profileOf(req.PreviousID)

	var target, other *Profile
	outcome := OutcomeUpdated
	switch {
	case known == nil && prev == nil:
		// Neither is known (an import from another system): one new profile owns both.
		target, outcome = pl.create(req.ExternalID), OutcomeCreated
	case known == nil && !prev.Identified():
		target, outcome = prev, OutcomeLinked
		pl.identify(target, req.ExternalID)
	case known == nil:
		// previousId belongs to a user identified under another external id.
		if !req.AllowIdentifiedMerge {
			return nil, &MergeRefusedError{OtherProfileID: prev.ID}
		}
		target, outcome = prev, OutcomeLinked
	case prev == nil:
		target, outcome = known, OutcomeLinked
		pl.identify(target, req.ExternalID)
	case prev == known:
		target = known
		pl.identify(target, req.ExternalID)
	case prev.Identified() && !req.AllowIdentifiedMerge:
		return nil, &MergeRefusedError{ProfileID: known.ID, OtherProfileID: prev.ID}
	default:
		target, outcome, other = known, OutcomeMerged, prev
		pl.identify(target, req.ExternalID)
		pl.merge(prev, target)
	}
	pl.link(req.ExternalID, target)
	pl.link(req.PreviousID, target)
	return pl.finish(target, outcome, other), nil
}
