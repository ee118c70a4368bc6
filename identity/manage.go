package identity

import (
	"context"
	"errors"
	"fmt"
)

// Server-side edits of one profile: delete, restore and trait overrides. Each locks the profile
// row, bumps its version and projects the new state, like every identity write.

// movedError says the profile was merged into another after the caller resolved it.
type movedError struct{ into string }

func (e movedError) Error() string { return "profile merged into " + e.into }

// edit runs fn on the locked profile profileID, following merges (a merged-away id edits the
// profile it was merged into).
func (s *Service) edit(ctx context.Context, projectID, method, profileID string, lockIDs []string, fn func(pl *planner, p *Profile) error) (Result, error) {
	for range 8 {
		res, err := s.store.Update(ctx, UpdateRequest{
			ProjectID: projectID, DistinctIDs: lockIDs, ProfileIDs: []string{profileID}, Method: method,
		}, func(st *State) (*Plan, error) {
			p := st.ByID[profileID]
			switch {
			case p == nil:
				return nil, ErrNotFound
			case p.MergedInto != "":
				return nil, movedError{p.MergedInto}
			}
			pl := newPlanner(st)
			if err := fn(pl, p); err != nil {
				return nil, err
			}
			return pl.finish(p, OutcomeUpdated, nil), nil
		})
		var moved movedError
		if errors.As(err, &moved) {
			profileID = moved.into
			continue
		}
		return res, err
	}
	return Result{}, fmt.Errorf("%w: merge chain too long", ErrContention)
}

// Delete soft-deletes a profile. Its events stay; Get and List no longer show it; its version
// goes up so no queued projection can bring it back. A later Identify of its external id starts
// a new profile (see TestPlanIdentify, "deleted profile").
func (s *Service) Delete(ctx context.Context, projectID, profileID string) (Result, error) {
	return s.edit(ctx, projectID, "delete", profileID, nil, func(pl *planner, p *Profile) error {
		if p.Deleted {
			return ErrNotFound
		}
		p.Deleted = true
		pl.touch(p)
		return nil
	})
}

// Restore brings a soft-deleted profile back, with the distinct ids that still point at it.
// externalID is the profile's external id as the caller read it; when another live profile has
// taken it since (an Identify after the delete), Restore refuses with ErrExternalIDTaken.
func (s *Service) Restore(ctx context.Context, projectID, profileID, externalID string) (Result, error) {
	var lock []string
	if externalID != "" {
		lock = []string{externalID}
	}
	return s.edit(ctx, projectID, "restore", profileID, lock, func(pl *planner, p *Profile) error {
		if !p.Deleted {
			return nil // already live: restoring twice is a no-op
		}
		if p.ExternalID != externalID {
			return ErrRetry
		}
		if owner := pl.profileOf(p.ExternalID); owner != nil && owner != p {
			return fmt.Errorf("%w (%s)", ErrExternalIDTaken, owner.ID)
		}
		p.Deleted = false
		pl.touch(p)
		pl.link(p.ExternalID, p)
		return nil
	})
}

// SetOverrides sets server-side traits that win over SDK traits until removed.
func (s *Service) SetOverrides(ctx context.Context, projectID, profileID string, overrides Traits) (Result, error) {
	if len(overrides) == 0 {
		return Result{}, fieldErr("traits", "must set at least one override")
	}
	return s.editOverrides(ctx, projectID, "set_overrides", profileID, TraitOps{Set: overrides})
}

// RemoveOverrides removes overrides by key; the SDK's values show again.
func (s *Service) RemoveOverrides(ctx context.Context, projectID, profileID string, keys []string) (Result, error) {
	if len(keys) == 0 {
		return Result{}, fieldErr("keys", "must name at least one key")
	}
	return s.editOverrides(ctx, projectID, "remove_overrides", profileID, TraitOps{Unset: keys})
}

func (s *Service) editOverrides(ctx context.Context, projectID, method, profileID string, ops TraitOps) (Result, error) {
	if err := ops.Validate(s.limits); err != nil {
		return Result{}, err
	}
	return s.edit(ctx, projectID, method, profileID, nil, func(pl *planner, p *Profile) error {
		if p.Deleted {
			return ErrNotFound
		}
		if next, changed := ops.Apply(p.Overrides); changed {
			p.Overrides = next
			pl.touch(p)
		}
		return nil
	})
}
