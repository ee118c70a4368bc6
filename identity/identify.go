package identity

import (
	"context"
	"time"
)

// IdentifyRequest is one Identify call.
type IdentifyRequest struct {
	ExternalID  string
	AnonymousID string
	Traits      TraitOps
	Timestamp   time.Time // client time; informational
	MessageID   string
}

func (r IdentifyRequest) validate(l Limits) error {
	if err := ValidateID("externalId", r.ExternalID); err != nil {
		return err
	}
	if r.AnonymousID != "" {
		if err := ValidateID("anonymousId", r.AnonymousID); err != nil {
			return err
		}
	}
	if err := validateMessageID("messageId", r.MessageID); err != nil {
		return err
	}
	return r.Traits.Validate(l)
}

// Identify links the caller to req.ExternalID and merges traits (SPEC.md, identity rule 1).
func (s *Service) Identify(ctx context.Context, projectID string, req IdentifyRequest) (Result, error) {
	if err := req.validate(s.limits); err != nil {
		return Result{}, err
	}
	return s.store.Update(ctx, UpdateRequest{
		ProjectID:   projectID,
		DistinctIDs: []string{req.ExternalID, req.AnonymousID},
		Method:      "identify",
		MessageID:   req.MessageID,
	}, func(st *State) (*Plan, error) { return planIdentify(st, req), nil })
}

// planIdentify is rule 1 of SPEC.md. Each branch is pinned by a test in identify_test.go.
func planIdentify(st *State, req IdentifyRequest) *Plan {
	pl := newPlanner(st)
	known := pl.profileOf(req.ExternalID)
	var anon *Profile
	if req.AnonymousID != req.ExternalID {
		anon = pl.profileOf(req.AnonymousID)
	}

	var target, other *Profile
	outcome := OutcomeUpdated
	switch {
	case known == nil && anon == nil:
		// Unknown external id, no or unknown anonymous id: a new profile owns both.
		target, outcome = pl.create(req.ExternalID), OutcomeCreated
		pl.link(req.AnonymousID, target)
	case known == nil && !anon.Identified():
		// The anonymous profile becomes identified; its events now count for the user.
		target, outcome = anon, OutcomeLinked
		pl.identify(target, req.ExternalID)
	case known == nil:
		// Shared computer: the anonymous id belongs to someone else. Identify external id alone.
		target, outcome, other = pl.create(req.ExternalID), OutcomeNotMerged, anon
	case anon == nil || anon == known:
		target = known
		pl.identify(target, req.ExternalID)
		if pl.link(req.AnonymousID, target) {
			outcome = OutcomeLinked
		}
	case !anon.Identified():
		// An anonymous profile met its user: fold it into the identified one.
		target, outcome, other = known, OutcomeMerged, anon
		pl.identify(target, req.ExternalID)
		pl.merge(anon, target)
	default:
		target, outcome, other = known, OutcomeNotMerged, anon
		pl.identify(target, req.ExternalID)
	}
	pl.link(req.ExternalID, target)
	pl.applyTraits(target, req.Traits)
	return pl.finish(target, outcome, other)
}
