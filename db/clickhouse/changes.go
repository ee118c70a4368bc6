package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/poluruprvn/profiles/identity"
)

// ChangeSink projects committed identity changes into ClickHouse: one insert per table for a
// whole batch of changes. It implements jobs.ChangeSink.
type ChangeSink struct {
	Conn driver.Conn
}

// WriteChanges keeps, per distinct id and per profile, only the newest version in the batch
// and writes the rest with one batch insert per table. Older versions already in ClickHouse
// lose to these on read; newer ones win over them, whatever order jobs run in.
func (s ChangeSink) WriteChanges(ctx context.Context, changes []identity.Change) error {
	type key struct{ project, id string }
	mappings := map[key]MappingRow{}
	profiles := map[key]ProfileRow{}
	for _, c := range changes {
		for _, m := range c.Mappings {
			k := key{c.ProjectID, m.DistinctID}
			if old, ok := mappings[k]; !ok || uint64(m.Version) > old.Version {
				mappings[k] = MappingRow{ProjectID: c.ProjectID, DistinctID: m.DistinctID, ProfileID: m.ProfileID, Version: uint64(m.Version)}
			}
		}
		for _, p := range c.Profiles {
			k := key{c.ProjectID, p.ID}
			if old, ok := profiles[k]; ok && uint64(p.Version) <= old.Version {
				continue
			}
			if p.Traits == nil {
				p.Traits = identity.Traits{}
			}
			traits, err := json.Marshal(p.Traits)
			if err != nil {
				return fmt.Errorf("encode traits of %s: %w", p.ID, err)
			}
			profiles[k] = ProfileRow{
				ProjectID: c.ProjectID, ProfileID: p.ID, ExternalID: p.ExternalID, Traits: string(traits),
				MergedInto: p.MergedInto, Deleted: p.Deleted, Version: uint64(p.Version), UpdatedAt: p.UpdatedAt,
			}
		}
	}
	ms := make([]MappingRow, 0, len(mappings))
	for _, m := range mappings {
		ms = append(ms, m)
	}
	ps := make([]ProfileRow, 0, len(profiles))
	for _, p := range profiles {
		ps = append(ps, p)
	}
	return WriteProjection(ctx, s.Conn, ms, ps)
}
