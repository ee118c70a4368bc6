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

// WriteChanges keeps, per distinct id, only the newest mapping in the batch, and writes the
// mappings and the profiles (each once, as read for the batch) with one batch insert per
// table. Older versions already in ClickHouse lose to these on read; newer ones win over
// them, whatever order jobs run in.
func (s ChangeSink) WriteChanges(ctx context.Context, changes []identity.Change, profiles []identity.Snapshot) error {
	type key struct{ project, id string }
	mappings := map[key]MappingRow{}
	for _, c := range changes {
		for _, m := range c.Mappings {
			k := key{c.ProjectID, m.DistinctID}
			if old, ok := mappings[k]; !ok || uint64(m.Version) > old.Version {
				mappings[k] = MappingRow{ProjectID: c.ProjectID, DistinctID: m.DistinctID, ProfileID: m.ProfileID, Version: uint64(m.Version)}
			}
		}
	}
	ms := make([]MappingRow, 0, len(mappings))
	for _, m := range mappings {
		ms = append(ms, m)
	}
	ps := make([]ProfileRow, 0, len(profiles))
	for _, p := range profiles {
		if p.Traits == nil {
			p.Traits = identity.Traits{}
		}
		traits, err := json.Marshal(p.Traits)
		if err != nil {
			return fmt.Errorf("encode traits of %s: %w", p.ID, err)
		}
		ps = append(ps, ProfileRow{
			ProjectID: p.ProjectID, ProfileID: p.ID, ExternalID: p.ExternalID, Traits: string(traits),
			MergedInto: p.MergedInto, Deleted: p.Deleted, Version: uint64(p.Version), UpdatedAt: p.UpdatedAt,
		})
	}
	return WriteProjection(ctx, s.Conn, ms, ps)
}
