package events

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/poluruprvn/profiles/internal/wire"
)

// TrackRequest is events.v1.TrackRequest as the handler takes it: the codecs read the request
// straight into an Event (wire.JSONCodec, wire.ProtoCodec), so that properties never become
// a structpb tree first.
type TrackRequest struct {
	Event Event
}

// TrackBatchRequest is events.v1.TrackBatchRequest as the handler takes it.
type TrackBatchRequest struct {
	Events []Event
}

var (
	_ wire.JSONUnmarshaler   = (*TrackRequest)(nil)
	_ wire.BinaryUnmarshaler = (*TrackRequest)(nil)
	_ wire.JSONUnmarshaler   = (*TrackBatchRequest)(nil)
	_ wire.BinaryUnmarshaler = (*TrackBatchRequest)(nil)
)

// UnmarshalProtoJSON reads a TrackRequest as protojson would (wire.JSONReader).
func (t *TrackRequest) UnmarshalProtoJSON(b []byte) error {
	r := wire.NewJSONReader(b)
	e, err := readEvent(r, wire.MaxRecursion)
	if err != nil {
		return err
	}
	if err := r.End(); err != nil {
		return err
	}
	t.Event = e
	return nil
}

// UnmarshalProtoJSON reads a TrackBatchRequest as protojson would (wire.JSONReader).
func (t *TrackBatchRequest) UnmarshalProtoJSON(b []byte) error {
	r := wire.NewJSONReader(b)
	budget := wire.MaxRecursion - 1 // the request
	if err := r.Object(); err != nil {
		return err
	}
	var es []Event
	seen := false
	for i := 0; ; i++ {
		name, ok, err := r.Member(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if string(name) != "events" {
			if err := r.Skip(budget); err != nil {
				return err
			}
			continue
		}
		if seen {
			return fmt.Errorf(`duplicate field "events"`)
		}
		seen = true
		if r.Null() {
			continue
		}
		if err := r.Array(); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for j := 0; ; j++ {
			more, err := r.Element(j)
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			if !more {
				break
			}
			e, err := readEvent(r, budget)
			if err != nil {
				return fmt.Errorf("events[%d]: %w", j, err)
			}
			es = append(es, e)
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	t.Events = es
	return nil
}

// Field numbers of events.v1.Event and TrackRequest, which share them.
const (
	fieldEvent = 1 + iota
	fieldAnonymousID
	fieldExternalID
	fieldProperties
	fieldTimestamp
	fieldMessageID
)

// eventField maps the JSON and the proto name of each field to its number: protojson takes
// either.
func eventField(name []byte) int {
	switch string(name) {
	case "event":
		return fieldEvent
	case "anonymousId", "anonymous_id":
		return fieldAnonymousID
	case "externalId", "external_id":
		return fieldExternalID
	case "properties":
		return fieldProperties
	case "timestamp":
		return fieldTimestamp
	case "messageId", "message_id":
		return fieldMessageID
	}
	return 0
}

// readEvent reads one Event (or TrackRequest) object; budget is what is left of the recursion
// budget in the message holding it.
func readEvent(r *wire.JSONReader, budget int) (Event, error) {
	budget--
	var e Event
	if err := r.Object(); err != nil {
		return e, err
	}
	var seen [fieldMessageID + 1]bool
	for i := 0; ; i++ {
		name, ok, err := r.Member(i)
		if err != nil || !ok {
			return e, err
		}
		f := eventField(name)
		if f == 0 {
			if err := r.Skip(budget); err != nil {
				return e, err
			}
			continue
		}
		if seen[f] {
			return e, fmt.Errorf("duplicate field %q", name)
		}
		seen[f] = true
		if r.Null() {
			continue
		}
		switch f {
		case fieldEvent:
			e.Name, err = r.String()
		case fieldAnonymousID:
			e.AnonymousID, err = r.String()
		case fieldExternalID:
			e.ExternalID, err = r.String()
		case fieldProperties:
			e.Properties, err = r.Struct(budget)
		case fieldTimestamp:
			e.Timestamp, err = r.Timestamp()
		case fieldMessageID:
			e.MessageID, err = r.String()
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", jsonNames[f], err)
		}
	}
}

var jsonNames = [...]string{
	fieldEvent: "event", fieldAnonymousID: "anonymousId", fieldExternalID: "externalId",
	fieldProperties: "properties", fieldTimestamp: "timestamp", fieldMessageID: "messageId",
}

// UnmarshalProtoBinary reads a binary TrackRequest as proto.Unmarshal would
// (wire.ProtoFields and the readers beside it), straight into an Event.
func (t *TrackRequest) UnmarshalProtoBinary(b []byte) error {
	e, err := readEventProto(b, wire.MaxRecursion)
	if err != nil {
		return err
	}
	t.Event = e
	return nil
}

// UnmarshalProtoBinary reads a binary TrackBatchRequest as proto.Unmarshal would.
func (t *TrackBatchRequest) UnmarshalProtoBinary(b []byte) error {
	depth := wire.MaxRecursion - 1 // the request
	var es []Event
	err := wire.ProtoFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		e, err := readEventProto(v, depth)
		if err != nil {
			return fmt.Errorf("events[%d]: %w", len(es), err)
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return err
	}
	t.Events = es
	return nil
}

// readEventProto reads one binary Event (or TrackRequest); depth is what is left of the
// recursion budget in the message holding it.
func readEventProto(b []byte, depth int) (Event, error) {
	var e Event
	if depth--; depth < 0 {
		return e, wire.ErrRecursion
	}
	var ts wire.ProtoTime
	err := wire.ProtoFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType || num < fieldEvent || num > fieldMessageID {
			return nil
		}
		var err error
		switch num {
		case fieldEvent:
			e.Name, err = wire.ProtoString(v)
		case fieldAnonymousID:
			e.AnonymousID, err = wire.ProtoString(v)
		case fieldExternalID:
			e.ExternalID, err = wire.ProtoString(v)
		case fieldProperties:
			e.Properties, err = wire.ProtoStruct(v, e.Properties, depth)
		case fieldTimestamp:
			err = ts.Merge(v, depth)
		case fieldMessageID:
			e.MessageID, err = wire.ProtoString(v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", jsonNames[num], err)
		}
		return nil
	})
	if len(e.Properties) == 0 {
		e.Properties = nil // as wire.Map gives an empty Struct
	}
	if ts.Set {
		e.Timestamp = ts.Time()
	}
	return e, err
}
