package clickhouse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/poluruprvn/profiles/profiles"
)

// EventReader answers ProfilesService's event figures and history. It implements
// profiles.Events. Concurrent Stats calls share queries (statsReads).
type EventReader struct {
	conn  driver.Conn
	reads *statsReads
}

var _ profiles.Events = (*EventReader)(nil)

// NewEventReader returns an EventReader reading through conn.
func NewEventReader(conn driver.Conn) *EventReader {
	return &EventReader{conn: conn, reads: newStatsReads(conn)}
}

// Stats implements profiles.Events.
func (r *EventReader) Stats(ctx context.Context, projectID string, groups [][]string) ([]profiles.EventStats, error) {
	stats, err := r.reads.stats(ctx, projectID, groups)
	if err != nil {
		return nil, err
	}
	out := make([]profiles.EventStats, len(stats))
	for i, s := range stats {
		out[i] = profiles.EventStats{Count: s.Count, First: s.First, Last: s.Last}
	}
	return out, nil
}

type historyToken struct {
	T int64  `json:"t"` // unix seconds of the last event of the previous page
	M string `json:"m"` // its message id
}

// History implements profiles.Events with an opaque cursor over (timestamp, message id).
func (r *EventReader) History(ctx context.Context, projectID string, distinctIDs []string, cursor string, limit int) ([]profiles.Event, string, error) {
	var before Cursor
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var tok historyToken
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.M == "" {
			return nil, "", profiles.ErrBadCursor
		}
		before = Cursor{Timestamp: time.Unix(tok.T, 0).UTC(), MessageID: tok.M}
	}
	rows, next, err := EventHistory(ctx, r.conn, projectID, distinctIDs, before, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]profiles.Event, len(rows))
	for i, row := range rows {
		var props map[string]any
		_ = json.Unmarshal([]byte(row.Properties), &props) // written by us from validated JSON
		out[i] = profiles.Event{Name: row.Event, DistinctID: row.DistinctID, Properties: props,
			Timestamp: row.Timestamp, MessageID: row.MessageID}
	}
	var token string
	if !next.IsZero() {
		b, _ := json.Marshal(historyToken{T: next.Timestamp.Unix(), M: next.MessageID})
		token = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, token, nil
}
