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
	sqlEventStats = `SELECT tupleElement(winner, 3) AS winner_distinct_id,
       count() AS message_count,
       min(tupleElement(winner, 2)) AS first_timestamp,
       max(tupleElement(winner, 2)) AS last_timestamp
FROM (
    SELECT message_id, max(tuple(received_at, timestamp, distinct_id)) AS winner
    FROM events
    WHERE project_id = @project_id AND distinct_id IN @distinct_ids
    GROUP BY message_id
)
GROUP BY winner_distinct_id`

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
    WHERE project_id = @project_id AND distinct_id IN @distinct_ids
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

// EventStats returns, per distinct id of project projectID that has events, how many distinct
// message ids it has and its first and last event time. Each message id is counted once in
// the whole answer, for the distinct id of its winning copy: summing the stats of a profile's
// ids, asked for in one call, counts every event once.
func EventStats(ctx context.Context, conn driver.Conn, projectID string, distinctIDs []string) (map[string]Stats, error) {
	ids, err := readIDs(distinctIDs)
	if err != nil || len(ids) == 0 {
		return map[string]Stats{}, err
	}
	out := make(map[string]Stats, len(ids))
	err = queryRows(withQuerySize(ctx, ids), conn, sqlEventStats, lookupArgs("distinct_ids", projectID, ids), func(rows driver.Rows) error {
		var (
			id string
			s  Stats
		)
		if err := rows.Scan(&id, &s.Count, &s.First, &s.Last); err != nil {
			return err
		}
		s.First, s.Last = s.First.UTC(), s.Last.UTC()
		out[id] = s
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
	err = queryRows(withQuerySize(ctx, ids), conn, sqlEventHistory, args, func(rows driver.Rows) error {
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

// withQuerySize raises max_query_size for this query when the bound id list would not fit the
// default; the setting exists on 18.16 and current versions alike.
func withQuerySize(ctx context.Context, ids []string) context.Context {
	size := 4 << 10 // the query text around the list
	for _, id := range ids {
		size += 2*len(id) + 4 // escaping can double a byte; quotes and ", " add four
	}
	if size <= defaultMaxQuerySize {
		return ctx
	}
	return ch.Context(ctx, ch.WithSettings(ch.Settings{"max_query_size": size}))
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
