package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Event is one tracked event. Accept fills in the fields the server decides; an accepted Event
// is not modified afterwards.
type Event struct {
	ProjectID   string // the caller's project, never from the request body
	DistinctID  string // ExternalID when given, else AnonymousID: whom the event is stored under
	AnonymousID string
	ExternalID  string
	Name        string         // "event" in the API
	Properties  map[string]any // JSON values, as encoding/json and structpb decode them
	Timestamp   time.Time      // client time; ReceivedAt when the client sent none
	ReceivedAt  time.Time      // server time the request arrived
	MessageID   string         // client idempotency key, or a random one the server assigned

	encoded json.RawMessage // Properties as Accept encoded them to measure the event
}

// EncodedProperties returns e's properties as EncodeProperties writes them: the encoding Accept
// measured, when e came from Accept (so a stored event is encoded once), else a new one.
func (e Event) EncodedProperties() (json.RawMessage, error) {
	if e.encoded != nil {
		return e.encoded, nil
	}
	return EncodeProperties(e.Properties)
}

// Record is an accepted event on its way from durable storage to the read model: properties stay
// in their encoded form (EncodeProperties), so no stage decodes and re-encodes them.
type Record struct {
	ProjectID   string
	DistinctID  string
	AnonymousID string
	ExternalID  string
	Name        string
	MessageID   string
	Properties  json.RawMessage // a JSON object, as EncodeProperties writes it
	Timestamp   time.Time
	ReceivedAt  time.Time
}

// Record encodes e's properties.
func (e Event) Record() (Record, error) {
	props, err := e.EncodedProperties()
	if err != nil {
		return Record{}, err
	}
	return Record{
		ProjectID: e.ProjectID, DistinctID: e.DistinctID, AnonymousID: e.AnonymousID,
		ExternalID: e.ExternalID, Name: e.Name, MessageID: e.MessageID, Properties: props,
		Timestamp: e.Timestamp, ReceivedAt: e.ReceivedAt,
	}, nil
}

// Subject is whom events are about: one distinct id of one project.
type Subject struct {
	ProjectID  string
	DistinctID string
}

// Hash is the 64-bit xxhash of the project and the id, NUL between them (identity refuses
// control characters in ids): the one hash of a subject, which the figure announcements
// (profiles.SubjectHash) and the event worker's memory (jobs.Subjects) both key on.
func (s Subject) Hash() uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(s.ProjectID)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(s.DistinctID)
	return d.Sum64()
}

// Ingester makes accepted events durable.
type Ingester interface {
	// Append stores events (all accepted, all of one request) and returns once they are durable
	// and certain to reach the read model: all of them or none. It returns an error wrapping
	// ErrUnavailable when storage cannot take them, or ctx's error when ctx ends first. After
	// an error the events may still have been stored (the answer was lost, not the write);
	// storage collapses copies by message id.
	Append(ctx context.Context, events []Event) error
}

// ServerMessageIDPrefix starts every message id the server assigns: "srv_" and 32 hex digits
// (128 random bits), so a duplicate is as likely as a UUID collision.
const ServerMessageIDPrefix = "srv_"

// NewMessageID returns a random message id for an event the client sent without one.
func NewMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return ServerMessageIDPrefix + hex.EncodeToString(b[:])
}
