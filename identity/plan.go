package identity

// planner builds a Plan from a State. The rules in identify.go and alias.go only say which
// profile wins; planner keeps the bookkeeping (which rows changed, which ids moved) in one place.
type planner struct {
	st      *State
	upserts map[string]*Profile
	order   []*Profile
	plan    Plan
}

func newPlanner(st *State) *planner {
	return &planner{st: st, upserts: map[string]*Profile{}}
}

// profileOf returns the live profile of a distinct id, or nil when the id is unknown or its
// profile was deleted.
func (pl *planner) profileOf(distinctID string) *Profile {
	if distinctID == "" {
		return nil
	}
	if p := pl.st.Profiles[distinctID]; p.live() {
		return p
	}
	return nil
}

func (pl *planner) create(externalID string) *Profile {
	p := &Profile{ID: NewProfileID(pl.st.Now), ExternalID: externalID, Traits: Traits{}, Overrides: Traits{}}
	if pl.st.ByID != nil {
		pl.st.ByID[p.ID] = p
	}
	pl.touch(p)
	return p
}

func (pl *planner) touch(p *Profile) {
	p.Version = pl.st.Version
	if _, ok := pl.upserts[p.ID]; !ok {
		pl.upserts[p.ID] = p
		pl.order = append(pl.order, p)
	}
}

// link points distinctID at p unless it already does. Only unknown ids and ids of deleted
// profiles are linked; ids of live profiles move by merge.
func (pl *planner) link(distinctID string, p *Profile) bool {
	if distinctID == "" || pl.st.Profiles[distinctID] == p {
		return false
	}
	pl.st.Profiles[distinctID] = p
	pl.plan.Links = append(pl.plan.Links, Link{DistinctID: distinctID, ProfileID: p.ID})
	return true
}

// identify gives an anonymous profile its external id.
func (pl *planner) identify(p *Profile, externalID string) {
	if !p.Identified() {
		p.ExternalID = externalID
		pl.touch(p)
	}
}

// merge folds loser into winner: every distinct id of loser moves, loser's traits and overrides
// fill the keys winner lacks, and loser keeps resolving to winner.
func (pl *planner) merge(loser, winner *Profile) {
	winner.Traits = MergeUnder(winner.Traits, loser.Traits)
	winner.Overrides = MergeUnder(winner.Overrides, loser.Overrides)
	loser.MergedInto = winner.ID
	pl.touch(winner)
	pl.touch(loser)
	for id, p := range pl.st.Profiles {
		if p == loser {
			pl.st.Profiles[id] = winner
		}
	}
	pl.plan.Merges = append(pl.plan.Merges, Merge{From: loser.ID, Into: winner.ID})
}

func (pl *planner) applyTraits(p *Profile, ops TraitOps) {
	if traits, changed := ops.Apply(p.Traits); changed {
		p.Traits = traits
		pl.touch(p)
	}
}

func (pl *planner) finish(target *Profile, outcome Outcome, other *Profile) *Plan {
	pl.plan.Upserts = pl.order
	pl.plan.Result = Result{ProfileID: target.ID, Outcome: outcome}
	if other != nil {
		pl.plan.Result.OtherProfileID = other.ID
	}
	return &pl.plan
}
