package clickhouse

import (
	"context"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/poluruprvn/profiles/events"
)

// EventRow is one events row (migrations/0002_events.sql).
type EventRow struct {
	ProjectID  string
	DistinctID string
	Event      string
	MessageID  string
	Properties string    // JSON object text
	Timestamp  time.Time // stored in whole seconds, clamped to DateTime's 1970..2106
	ReceivedAt time.Time // the version: of two copies of a message id, the later received wins
}

// Stats sums the events of one distinct id.
type Stats struct {
	Count       uint64
	First, Last time.Time // event timestamps, UTC, whole seconds
}

// Cursor is a position in an event history, newest first: the (timestamp, message id) of the
// last event a page returned. The zero Cursor starts at the newest event.
type Cursor struct {
	Timestamp time.Time
	MessageID string
}

// IsZero reports whether c is the start of a history.
func (c Cursor) IsZero() bool { return c.Timestamp.IsZero() && c.MessageID == "" }

// MaxHistoryLimit bounds one EventHistory page.
const MaxHistoryLimit = 1000

// MaxEventReadIDs bounds the distinct ids of one EventStats or EventHistory call. They are
// bound into the query text in one list (never chunked: copies of a message id under two of
// the ids must meet in one GROUP BY), with max_query_size raised to fit.
const MaxEventReadIDs = 10_000

const (
	sqlInsertEvents = `INSERT INTO events (project_id, distinct_id, event, message_id, properties, timestamp, received_at)`

	// Every read first collapses the copies of each message id among the ids asked for to one
	// winner: the copy with the greatest (received_at, timestamp, distinct_id, event,
	// properties), so the last received wins and equal receive times still pick the same copy
	// on every run. Counting, ordering and paging then see exactly one row per message id,
	// whatever copies are stored, merged or not (ReplacingMergeTree merges only eventually, and
	// never across partitions: a retry with another timestamp may sit in another month).
	//
	// Aliases never equal a column name: an alias shadows the column in the other expressions.
	// The ids are matched in PREWHERE: ClickHouse then reads the other columns only of granules
	// holding a match and keeps only the matching rows, where WHERE decodes every row read (with WHERE, a figure read of 30
	// ids over 13 parts decoded 2.7 MB of summary states and took 8.3 ms of CPU on 18.16; with
	// PREWHERE 1.1 MB and 4.9 ms).
	//
	// The figures of groups of distinct ids (one group per profile) from event_stats, merging
	// each group's states: @group_of_id[i] is the group (1-based) of @ids[i]. transform looks
	// the id up in a hash table; indexOf scanned the id list for every row read (300 ids: 33 ->
	// 26 ms of ClickHouse CPU on 18.16).
	sqlEventStats = `SELECT toUInt32(transform(distinct_id, @ids, @group_of_id, 0)) AS stats_group,
       uniqExactMerge(messages) AS message_count,
       minMerge(first_seen) AS first_timestamp,
       maxMerge(last_seen) AS last_timestamp
FROM event_stats
PREWHERE project_id = @project_id AND distinct_id IN @distinct_ids
GROUP BY stats_group`

	// Newest first by (timestamp, message_id), both of the winning copy; @after = 0 reads from
	// the newest event, else from just below the cursor (@before_ts, @before_id).
	sqlEventHistory = `SELECT message_id,
       tupleElement(winner, 3) AS winner_distinct_id,
       tupleElement(winner, 4) AS winner_event,
       tupleElement(winner, 5) AS winner_properties,
       tupleElement(winner, 2) AS winner_timestamp,
       tupleElement(winner, 1) AS winner_received_at
FROM (
    SELECT message_id, max(tuple(received_at, timestamp, distinct_id, event, properties)) AS winner
    FROM events
    PREWHERE project_id = @project_id AND distinct_id IN @distinct_ids
    GROUP BY message_id
)
WHERE @after = 0
   OR winner_timestamp < toDateTime(@before_ts)
   OR (winner_timestamp = toDateTime(@before_ts) AND message_id < @before_id)
ORDER BY winner_timestamp DESC, message_id DESC
LIMIT @limit`
)

// InsertEvents writes rows with one batch insert (none for an empty slice). Inserting rows
// again is harmless: reads collapse copies by message id. Batch many jobs per call: every
// insert makes a part per month its timestamps touch.
func InsertEvents(ctx context.Context, conn driver.Conn, rows []EventRow) error {
	if len(rows) == 0 {
		return nil
	}
	err := insertBatch(ctx, conn, sqlInsertEvents, len(rows), func(b driver.Batch, i int) error {
		r := rows[i]
		return b.Append(r.ProjectID, r.DistinctID, r.Event, r.MessageID, r.Properties,
			clampDateTime(r.Timestamp), clampDateTime(r.ReceivedAt))
	})
	if err != nil {
		return fmt.Errorf("clickhouse: insert %d events: %w", len(rows), err)
	}
	return nil
}

// EventStats returns the figures of each group of distinct ids of project projectID, in the
// order given: how many distinct message ids the group's ids have together, and their first and
// last event time (zero Stats for a group without events). A distinct id may belong to one group
// only, and all groups together to at most MaxEventReadIDs ids.
func EventStats(ctx context.Context, conn driver.Conn, projectID string, groups [][]string) ([]Stats, error) {
	out := make([]Stats, len(groups))
	var (
		ids     []string
		groupOf []uint32
		seen    = map[string]int{}
	)
	for g, group := range groups {
		for _, id := range group {
			if id == "" {
				continue
			}
			if prev, ok := seen[id]; ok {
				if prev != g {
					return nil, fmt.Errorf("clickhouse: event stats: distinct id %q in groups %d and %d", id, prev, g)
				}
				continue
			}
			seen[id] = g
			ids = append(ids, id)
			groupOf = append(groupOf, uint32(g+1))
		}
	}
	ids, err := readIDs(ids) // checks the size only: the ids are distinct and non-empty already
	if err != nil || len(ids) == 0 {
		return out, err
	}
	args := append(lookupArgs("distinct_ids", projectID, ids), ch.Named("ids", ids), ch.Named("group_of_id", groupOf))
	err = queryRows(statsContext(ctx, ids, 2), conn, sqlEventStats, args, func(rows driver.Rows) error {
		var (
			g uint32
			s Stats
		)
		if err := rows.Scan(&g, &s.Count, &s.First, &s.Last); err != nil {
			return err
		}
		if g == 0 || int(g) > len(out) {
			return fmt.Errorf("stats of unknown group %d", g)
		}
		s.First, s.Last = s.First.UTC(), s.Last.UTC()
		out[g-1] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: event stats of %d distinct ids: %w", len(ids), err)
	}
	return out, nil
}

// EventHistory returns up to limit events of the given distinct ids of project projectID,
// newest first (by timestamp, then message id, both descending), starting after before (the
// zero Cursor: the newest). next is the cursor of the following page, zero when there is none.
// Paging visits every message id once, provided no copy of it arrives in between.
//
// Each page collapses every event of the ids, so its cost grows with the ids' event count
// (milliseconds per 100k events), not with the page.
func EventHistory(ctx context.Context, conn driver.Conn, projectID string, distinctIDs []string, before Cursor, limit int) (page []EventRow, next Cursor, err error) {
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, Cursor{}, fmt.Errorf("clickhouse: event history limit %d: want 1 to %d", limit, MaxHistoryLimit)
	}
	ids, err := readIDs(distinctIDs)
	if err != nil || len(ids) == 0 {
		return nil, Cursor{}, err
	}
	after, beforeTS := 0, uint32(0)
	if !before.IsZero() {
		after, beforeTS = 1, uint32(clampDateTime(before.Timestamp).Unix())
	}
	args := append(lookupArgs("distinct_ids", projectID, ids),
		ch.Named("after", after), ch.Named("before_ts", beforeTS), ch.Named("before_id", before.MessageID),
		ch.Named("limit", limit+1)) // one more row says whether a next page exists
	err = queryRows(readContext(ctx, ids, 1), conn, sqlEventHistory, args, func(rows driver.Rows) error {
		r := EventRow{ProjectID: projectID}
		if err := rows.Scan(&r.MessageID, &r.DistinctID, &r.Event, &r.Properties, &r.Timestamp, &r.ReceivedAt); err != nil {
			return err
		}
		r.Timestamp, r.ReceivedAt = r.Timestamp.UTC(), r.ReceivedAt.UTC()
		page = append(page, r)
		return nil
	})
	if err != nil {
		return nil, Cursor{}, fmt.Errorf("clickhouse: event history of %d distinct ids: %w", len(ids), err)
	}
	if len(page) > limit {
		page = page[:limit]
		last := page[limit-1]
		next = Cursor{Timestamp: last.Timestamp, MessageID: last.MessageID}
	}
	return page, next, nil
}

// readIDs drops repeated and empty ids and enforces MaxEventReadIDs.
func readIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) > MaxEventReadIDs {
		return nil, fmt.Errorf("clickhouse: %d distinct ids in one event read, at most %d", len(out), MaxEventReadIDs)
	}
	return out, nil
}

// defaultMaxQuerySize is the server's max_query_size on every version (256 KiB).
const defaultMaxQuerySize = 256 << 10

// readContext carries the settings of a read of a few ids' rows:
//   - use_uncompressed_cache keeps the decompressed blocks around such point reads in memory,
//     where every Get would otherwise decompress the same blocks again (measured on 18.16: the
//     stats of one profile 203 -> 350 reads/s at 8 clients);
//   - max_query_size is raised when the id list, bound into the text times times, would not fit
//     the default.
//
// Both settings exist on 18.16 and current versions.
func readContext(ctx context.Context, ids []string, times int) context.Context {
	return ch.Context(ctx, ch.WithSettings(readSettings(ids, times)))
}

// statsContext is readContext for figure reads, which also run on one thread: a figure read
// of summary rows touches a few granules of each part, and splitting it over threads only adds
// their cost (measured on 18.16, 30 ids: 2.4 -> 2.0 ms of CPU a query; 300 ids: 3.8 -> 3.1 ms,
// and no slower). It overrides a max_threads set in the URL. History reads, which can gather
// every event of thousands of ids, keep the server's threads.
func statsContext(ctx context.Context, ids []string, times int) context.Context {
	settings := readSettings(ids, times)
	settings["max_threads"] = 1
	return ch.Context(ctx, ch.WithSettings(settings))
}

func readSettings(ids []string, times int) ch.Settings {
	settings := ch.Settings{"use_uncompressed_cache": 1}
	size := 4 << 10 // the query text around the lists
	for _, id := range ids {
		size += times * (2*len(id) + 16) // escaping can double a byte; quotes, ", " and a group number add the rest
	}
	if size > defaultMaxQuerySize {
		settings["max_query_size"] = size
	}
	return settings
}

// EventSink writes event records with one insert per call. It implements jobs.EventSink.
type EventSink struct {
	Conn driver.Conn
}

// WriteEvents implements jobs.EventSink.
func (s EventSink) WriteEvents(ctx context.Context, recs []events.Record) error {
	rows := make([]EventRow, len(recs))
	for i, r := range recs {
		rows[i] = EventRow{
			ProjectID: r.ProjectID, DistinctID: r.DistinctID, Event: r.Name, MessageID: r.MessageID,
			Properties: string(r.Properties), Timestamp: r.Timestamp, ReceivedAt: r.ReceivedAt,
		}
	}
	return InsertEvents(ctx, s.Conn, rows)
}
