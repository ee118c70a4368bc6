package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/poluruprvn/profiles/identity"
)

// Accept validates e as received at now for project projectID, and returns it with the server's
// decisions filled in: ProjectID, DistinctID, ReceivedAt, and Timestamp and MessageID when the
// client sent none. Errors wrap identity.ErrInvalid in an *identity.FieldError naming the API's
// JSON field ("event", "anonymousId", "properties.plan", ...). Pinned by TestAccept.
func Accept(projectID string, e Event, now time.Time) (Event, error) {
	out, _, err := accept(projectID, e, now, "")
	return out, err
}

// AcceptBatch accepts every event of one TrackBatch request, or none: the first invalid event
// refuses the batch, with fields named "events[3].event". It also enforces MaxBatchEvents and
// MaxBatchBytes. Pinned by TestAcceptBatch.
func AcceptBatch(projectID string, es []Event, now time.Time) ([]Event, error) {
	if len(es) > MaxBatchEvents {
		return nil, fieldErr("events", "at most %d events per batch, got %d", MaxBatchEvents, len(es))
	}
	out := make([]Event, len(es))
	total := 0
	for i, e := range es {
		a, size, err := accept(projectID, e, now, "events["+strconv.Itoa(i)+"].")
		if err != nil {
			return nil, err
		}
		total += size
		if total > MaxBatchBytes {
			return nil, fieldErr("events", "a batch must be at most %d bytes stored; it passed that at events[%d]", MaxBatchBytes, i)
		}
		out[i] = a
	}
	return out, nil
}

// accept is Accept with field names prefixed; it also returns the event's stored size.
func accept(projectID string, e Event, now time.Time, prefix string) (Event, int, error) {
	if err := validateName(e.Name); err != nil {
		return Event{}, 0, prefixed(prefix, err)
	}
	if e.AnonymousID == "" && e.ExternalID == "" {
		return Event{}, 0, fieldErr(prefix+"anonymousId", "at least one of anonymousId and externalId is required")
	}
	for _, id := range []struct{ field, value string }{{"anonymousId", e.AnonymousID}, {"externalId", e.ExternalID}} {
		if id.value == "" {
			continue
		}
		if err := identity.ValidateID(prefix+id.field, id.value); err != nil {
			return Event{}, 0, err
		}
	}
	if err := validateMessageID(e.MessageID); err != nil {
		return Event{}, 0, prefixed(prefix, err)
	}
	if !e.Timestamp.IsZero() {
		if err := validateTimestamp(e.Timestamp, now); err != nil {
			return Event{}, 0, prefixed(prefix, err)
		}
	}
	if err := (identity.TraitOps{Set: e.Properties}).Validate(PropertyLimits); err != nil {
		return Event{}, 0, prefixed(prefix, asProperties(err))
	}
	props, err := EncodeProperties(e.Properties)
	if err != nil { // unreachable after Validate: it admits only the types encoding/json writes
		return Event{}, 0, fieldErr(prefix+"properties", "cannot be encoded as JSON")
	}
	size := len(props) + len(e.Name) + len(e.AnonymousID) + len(e.ExternalID) + len(e.MessageID)
	if size > MaxEventBytes {
		return Event{}, 0, fieldErr(prefix+"properties", "an event must be at most %d bytes stored (properties as JSON, name and ids), got %d", MaxEventBytes, size)
	}

	e.encoded = props
	e.ProjectID = projectID
	e.DistinctID = e.ExternalID
	if e.DistinctID == "" {
		e.DistinctID = e.AnonymousID
	}
	e.ReceivedAt = now
	if e.Timestamp.IsZero() {
		e.Timestamp = now
	}
	if e.MessageID == "" {
		e.MessageID = NewMessageID()
		size += len(e.MessageID)
	}
	return e, size, nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return fieldErr("event", "the event name is required")
	case len(name) > MaxNameBytes:
		return fieldErr("event", "must be at most %d bytes, got %d", MaxNameBytes, len(name))
	case !utf8.ValidString(name):
		return fieldErr("event", "must be valid UTF-8")
	case strings.TrimSpace(name) == "":
		return fieldErr("event", "must not be only whitespace")
	}
	// Printable: letters, marks, numbers, punctuation, symbols and the ASCII space. Control,
	// format and other space characters make names that look equal but are not.
	if i := strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fieldErr("event", "must be printable; byte %d is %U", i, r)
	}
	return nil
}

func validateMessageID(id string) error {
	switch {
	case id == "":
		return nil
	case len(id) > MaxMessageIDBytes:
		return fieldErr("messageId", "must be at most %d bytes, got %d", MaxMessageIDBytes, len(id))
	case !utf8.ValidString(id) || strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fieldErr("messageId", "must be printable UTF-8")
	case strings.TrimSpace(id) == "":
		return fieldErr("messageId", "must not be only whitespace")
	}
	return nil
}

func validateTimestamp(ts, now time.Time) error {
	latest := now.Add(MaxClockSkew)
	if ts.Before(MinTimestamp) || ts.After(latest) {
		return fieldErr("timestamp", "must be between %s and %s (the server's time plus %s), got %s",
			MinTimestamp.Format(time.RFC3339), latest.UTC().Format(time.RFC3339), MaxClockSkew, ts.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func fieldErr(field, format string, args ...any) *identity.FieldError {
	return &identity.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// prefixed puts a batch position in front of a field error's field.
func prefixed(prefix string, err error) error {
	var fe *identity.FieldError
	if prefix == "" || !errors.As(err, &fe) {
		return err
	}
	return &identity.FieldError{Field: prefix + fe.Field, Reason: fe.Reason}
}

// traitWords turns identity's wording into ours in the part of a reason before the first
// quote, which is fixed text; what follows a quote may be the client's key and stays as sent.
var traitWords = strings.NewReplacer(
	"trait keys", "property keys",
	"trait key", "property key",
	"traits of one request", "properties of one event",
)

// asProperties renames a trait validation error to the properties field: identity names the
// field "traits" and the path "traits.plan", the API says "properties.plan".
func asProperties(err error) error {
	var fe *identity.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := fe.Field
	if rest, ok := strings.CutPrefix(field, "traits"); ok {
		field = "properties" + rest
	}
	reason := fe.Reason
	if i := strings.IndexByte(reason, '"'); i >= 0 {
		reason = traitWords.Replace(reason[:i]) + reason[i:]
	} else {
		reason = traitWords.Replace(reason)
	}
	return &identity.FieldError{Field: field, Reason: reason}
}
