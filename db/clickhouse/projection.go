package clickhouse

import (
	"context"
	"fmt"
	"math"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MappingRow is one distinct_id_map row: distinct id -> profile, as of Version.
type MappingRow struct {
	ProjectID  string
	DistinctID string
	ProfileID  string
	Version    uint64
}

// ProfileRow is one profiles row, as of Version.
type ProfileRow struct {
	ProjectID  string
	ProfileID  string
	ExternalID string
	Traits     string // JSON object text
	MergedInto string // the surviving profile, or ""
	Deleted    bool
	Version    uint64
	UpdatedAt  time.Time // stored in whole seconds, clamped to DateTime's 1970..2106
}

const (
	sqlInsertMappings = `INSERT INTO distinct_id_map (project_id, distinct_id, profile_id, version)`

	sqlInsertProfiles = `INSERT INTO profiles (project_id, profile_id, external_id, traits, merged_into, deleted, version, updated_at)`

	// The aggregates are aliased to names no column has: an alias equal to a column name (say
	// max(version) AS version) would be substituted into the other aggregates' arguments.
	sqlLookupMappings = `SELECT distinct_id,
       argMax(profile_id, version) AS latest_profile_id,
       max(version) AS latest_version
FROM distinct_id_map
WHERE project_id = @project_id AND distinct_id IN @distinct_ids
GROUP BY distinct_id`

	sqlLookupProfiles = `SELECT profile_id,
       argMax(external_id, version) AS latest_external_id,
       argMax(traits, version) AS latest_traits,
       argMax(merged_into, version) AS latest_merged_into,
       argMax(deleted, version) AS latest_deleted,
       max(version) AS latest_version,
       argMax(updated_at, version) AS latest_updated_at
FROM profiles
WHERE project_id = @project_id AND profile_id IN @profile_ids
GROUP BY profile_id`
)

// WriteProjection inserts mappings and profiles with at most one batch insert per table (none
// for an empty slice). Rows are never updated in place: a row with a higher version supersedes
// the others on read, so writing the same rows again, concurrently, or after newer ones is
// harmless. Batch many changes per call: every insert makes a part, and 18.16 refuses inserts
// at 300 parts per partition.
//
// The two inserts are not atomic together; a failed call is retried whole by the caller's job.
func WriteProjection(ctx context.Context, conn driver.Conn, mappings []MappingRow, profiles []ProfileRow) error {
	if len(mappings) > 0 {
		err := insertBatch(ctx, conn, sqlInsertMappings, len(mappings), func(b driver.Batch, i int) error {
			r := mappings[i]
			return b.Append(r.ProjectID, r.DistinctID, r.ProfileID, r.Version)
		})
		if err != nil {
			return fmt.Errorf("clickhouse: write %d mappings: %w", len(mappings), err)
		}
	}
	if len(profiles) > 0 {
		err := insertBatch(ctx, conn, sqlInsertProfiles, len(profiles), func(b driver.Batch, i int) error {
			r := profiles[i]
			return b.Append(r.ProjectID, r.ProfileID, r.ExternalID, r.Traits, r.MergedInto, r.Deleted, r.Version, clampDateTime(r.UpdatedAt))
		})
		if err != nil {
			return fmt.Errorf("clickhouse: write %d profiles: %w", len(profiles), err)
		}
	}
	return nil
}

func insertBatch(ctx context.Context, conn driver.Conn, insert string, n int, appendRow func(driver.Batch, int) error) error {
	batch, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	defer batch.Close()
	for i := range n {
		if err := appendRow(batch, i); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return batch.Send()
}

// DateTime holds unsigned 32-bit seconds. clickhouse-go sends a time outside that range
// truncated to 32 bits, so 2200 would read back as 2063: clamp it instead (the zero time
// becomes 1970-01-01).
func clampDateTime(t time.Time) time.Time {
	switch s := t.Unix(); {
	case s < 0:
		return time.Unix(0, 0).UTC()
	case s > math.MaxUint32:
		return time.Unix(math.MaxUint32, 0).UTC()
	}
	return t
}

// LookupMappings returns, for each of distinctIDs that project projectID has mapped, its row
// with the highest version. Ids never mapped are absent from the map.
func LookupMappings(ctx context.Context, conn driver.Conn, projectID string, distinctIDs []string) (map[string]MappingRow, error) {
	out := make(map[string]MappingRow, len(distinctIDs))
	for _, chunk := range lookupChunks(distinctIDs) {
		err := queryRows(ctx, conn, sqlLookupMappings, lookupArgs("distinct_ids", projectID, chunk), func(rows driver.Rows) error {
			r := MappingRow{ProjectID: projectID}
			if err := rows.Scan(&r.DistinctID, &r.ProfileID, &r.Version); err != nil {
				return err
			}
			out[r.DistinctID] = r
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("clickhouse: look up %d distinct ids: %w", len(distinctIDs), err)
		}
	}
	return out, nil
}

// LookupProfiles returns, for each of profileIDs that project projectID has, its row with the
// highest version, deleted and merged profiles included. Unknown ids are absent from the map.
// Each column is collapsed on its own (argMax per column), which is exact because two rows
// with the same version are copies of one change: Postgres bumps the version on every change.
func LookupProfiles(ctx context.Context, conn driver.Conn, projectID string, profileIDs []string) (map[string]ProfileRow, error) {
	out := make(map[string]ProfileRow, len(profileIDs))
	for _, chunk := range lookupChunks(profileIDs) {
		err := queryRows(ctx, conn, sqlLookupProfiles, lookupArgs("profile_ids", projectID, chunk), func(rows driver.Rows) error {
			var (
				r       = ProfileRow{ProjectID: projectID}
				deleted uint8
			)
			if err := rows.Scan(&r.ProfileID, &r.ExternalID, &r.Traits, &r.MergedInto, &deleted, &r.Version, &r.UpdatedAt); err != nil {
				return err
			}
			r.Deleted, r.UpdatedAt = deleted != 0, r.UpdatedAt.UTC()
			out[r.ProfileID] = r
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("clickhouse: look up %d profiles: %w", len(profileIDs), err)
		}
	}
	return out, nil
}

// lookupArgs binds @project_id and the id list. clickhouse-go writes a GroupSet as ('a', 'b'),
// quoted and escaped, so the ids reach the server as literals, never as SQL.
func lookupArgs(listName, projectID string, ids []string) []any {
	set := make([]any, len(ids))
	for i, id := range ids {
		set[i] = id
	}
	return []any{ch.Named("project_id", projectID), ch.Named(listName, ch.GroupSet{Value: set})}
}

// Bound values are written into the query text, and the server refuses texts over
// max_query_size (256 KiB by default on every version), so long id lists go in chunks.
const (
	lookupChunkIDs   = 1000
	lookupChunkBytes = 128 << 10
)

// lookupChunks drops repeated ids and cuts the rest into chunks small enough to bind.
func lookupChunks(ids []string) [][]string {
	var (
		chunks [][]string
		cur    []string
		size   int
		seen   = make(map[string]struct{}, len(ids))
	)
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		// Escaping can double a byte; quotes and ", " add four.
		cost := 2*len(id) + 4
		if len(cur) > 0 && (len(cur) == lookupChunkIDs || size+cost > lookupChunkBytes) {
			chunks, cur, size = append(chunks, cur), nil, 0
		}
		cur, size = append(cur, id), size+cost
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func queryRows(ctx context.Context, conn driver.Conn, query string, args []any, scan func(driver.Rows) error) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
