package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/poluruprvn/profiles/events"
)

// The formats of event_batches.payload, numbered in its format column. Writers use
// payloadFormat; readers know every format ever written, so a row an older binary left in
// flight is still read after an upgrade. A binary that meets a number it does not know fails
// the job (ErrCorrupt), so that a newer worker can pick it up on retry during a rolling deploy.
const (
	// payloadJSONLines (1): one JSON object per event and line, with the short keys of
	// payloadLine. Written until the protobuf format replaced it: decoding it took the event
	// worker more CPU than inserting the events into ClickHouse.
	payloadJSONLines = 1
	// payloadProtobuf (2): the protobuf encoding of
	//
	//	message Payload { repeated Event events = 1; }
	//	message Event {
	//	  string project_id = 1; string distinct_id = 2; string anonymous_id = 3;
	//	  string external_id = 4; string name = 5; string message_id = 6;
	//	  int64 timestamp_us = 7; int64 received_at_us = 8;  // Unix microseconds
	//	  bytes properties = 9;                              // events.EncodeProperties' JSON
	//	}
	//
	// so payloads concatenate into a payload (the committer joins its group's this way), and
	// any protobuf tool decodes one with the schema above. Readers skip fields they do not know.
	payloadProtobuf = 2

	payloadFormat = payloadProtobuf
)

// Field numbers of payloadProtobuf.
const (
	fieldEvent protowire.Number = 1

	fieldProjectID   protowire.Number = 1
	fieldDistinctID  protowire.Number = 2
	fieldAnonymousID protowire.Number = 3
	fieldExternalID  protowire.Number = 4
	fieldName        protowire.Number = 5
	fieldMessageID   protowire.Number = 6
	fieldTimestamp   protowire.Number = 7
	fieldReceivedAt  protowire.Number = 8
	fieldProperties  protowire.Number = 9
)

// EncodePayload appends es to buf in payloadFormat. Exported for tools that write or inspect
// event_batches rows, and for its benchmark.
func EncodePayload(buf *bytes.Buffer, es []events.Event) error {
	var ev []byte // one event's message, reused
	out := buf.AvailableBuffer()
	for i, e := range es {
		props, err := e.EncodedProperties() // Accept's encoding: properties are encoded once
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		ev = appendString(ev[:0], fieldProjectID, e.ProjectID)
		ev = appendString(ev, fieldDistinctID, e.DistinctID)
		ev = appendString(ev, fieldAnonymousID, e.AnonymousID)
		ev = appendString(ev, fieldExternalID, e.ExternalID)
		ev = appendString(ev, fieldName, e.Name)
		ev = appendString(ev, fieldMessageID, e.MessageID)
		ev = protowire.AppendTag(ev, fieldTimestamp, protowire.VarintType)
		ev = protowire.AppendVarint(ev, uint64(e.Timestamp.UnixMicro()))
		ev = protowire.AppendTag(ev, fieldReceivedAt, protowire.VarintType)
		ev = protowire.AppendVarint(ev, uint64(e.ReceivedAt.UnixMicro()))
		ev = protowire.AppendTag(ev, fieldProperties, protowire.BytesType)
		ev = protowire.AppendBytes(ev, props)
		out = protowire.AppendTag(out, fieldEvent, protowire.BytesType)
		out = protowire.AppendBytes(out, ev)
	}
	buf.Write(out)
	return nil
}

// appendString appends a string field, or nothing for "" (proto3's default is not written).
func appendString(b []byte, n protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// DecodePayload reads a payload of the given format. A payload that is not one, or an event
// without its project, distinct id, message id or properties, returns an error wrapping
// events.ErrCorrupt that says where.
func DecodePayload(format int16, payload []byte) ([]events.Record, error) {
	var (
		out []events.Record
		err error
	)
	switch format {
	case payloadProtobuf:
		out, err = decodeProtobuf(payload)
	case payloadJSONLines:
		out, err = decodeJSONLines(payload)
	default:
		return nil, fmt.Errorf("%w: format %d; this binary reads %d and %d", events.ErrCorrupt, format, payloadJSONLines, payloadProtobuf)
	}
	if err != nil {
		return nil, err
	}
	for i, r := range out {
		if r.ProjectID == "" || r.DistinctID == "" || r.MessageID == "" || !isObject(r.Properties) {
			return nil, fmt.Errorf("%w: event %d: project, distinct id, message id or properties missing", events.ErrCorrupt, i)
		}
	}
	return out, nil
}

// isObject is a cheap check that props is the JSON object EncodeProperties wrote, not a full
// validation: the payload is ours, and lz4 fails on most damage before this.
func isObject(props []byte) bool {
	return len(props) >= 2 && props[0] == '{' && props[len(props)-1] == '}'
}

func decodeProtobuf(payload []byte) ([]events.Record, error) {
	var out []events.Record
	err := eachField(payload, func(num protowire.Number, typ protowire.Type, value []byte, _ int) error {
		switch {
		case num != fieldEvent:
			return nil // a field a newer writer added
		case typ != protowire.BytesType:
			return wrongWireType(num)
		}
		msg, _ := protowire.ConsumeBytes(value)
		r, err := decodeEvent(msg)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, corrupt(len(out), err)
	}
	return out, nil
}

// decodeEvent reads one Event message. Its strings share one allocation: a copy of msg, which
// also keeps the records from pinning the whole payload.
func decodeEvent(msg []byte) (events.Record, error) {
	var r events.Record
	text := string(msg)
	// Where each known field goes, by number; properties are bytes, not a string.
	strs := [fieldProperties + 1]*string{fieldProjectID: &r.ProjectID, fieldDistinctID: &r.DistinctID,
		fieldAnonymousID: &r.AnonymousID, fieldExternalID: &r.ExternalID, fieldName: &r.Name, fieldMessageID: &r.MessageID}
	times := [fieldProperties + 1]*time.Time{fieldTimestamp: &r.Timestamp, fieldReceivedAt: &r.ReceivedAt}
	err := eachField(msg, func(num protowire.Number, typ protowire.Type, value []byte, at int) error {
		switch {
		case num < fieldProjectID || num > fieldProperties:
			return nil // a field a newer writer added
		case typ == protowire.BytesType && (num == fieldProperties || strs[num] != nil):
			v, _ := protowire.ConsumeBytes(value)
			end := at + len(value)
			if s := text[end-len(v) : end]; num == fieldProperties {
				r.Properties = json.RawMessage(s)
			} else {
				*strs[num] = s
			}
		case typ == protowire.VarintType && times[num] != nil:
			v, _ := protowire.ConsumeVarint(value)
			*times[num] = time.UnixMicro(int64(v)).UTC()
		default:
			return wrongWireType(num)
		}
		return nil
	})
	return r, err
}

// eachField calls f with the number, wire type and encoded value of each field of msg in turn,
// at being where the value starts in msg; it fails on the first malformed or truncated field.
// Values reach f whole, so decoding one again cannot fail.
func eachField(msg []byte, f func(num protowire.Number, typ protowire.Type, value []byte, at int) error) error {
	for at := 0; at < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[at:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		at += n
		m := protowire.ConsumeFieldValue(num, typ, msg[at:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		if err := f(num, typ, msg[at:at+m], at); err != nil {
			return err
		}
		at += m
	}
	return nil
}

func wrongWireType(num protowire.Number) error {
	return fmt.Errorf("field %d has the wrong wire type", num)
}

func corrupt(event int, err error) error {
	return fmt.Errorf("%w: event %d: %v", events.ErrCorrupt, event, err)
}

// payloadLine is one event of a payloadJSONLines payload. Times are Unix microseconds.
type payloadLine struct {
	ProjectID   string          `json:"p"`
	DistinctID  string          `json:"d"`
	AnonymousID string          `json:"a,omitempty"`
	ExternalID  string          `json:"x,omitempty"`
	Name        string          `json:"e"`
	MessageID   string          `json:"m"`
	Timestamp   int64           `json:"t"`
	ReceivedAt  int64           `json:"r"`
	Properties  json.RawMessage `json:"o"`
}

func decodeJSONLines(payload []byte) ([]events.Record, error) {
	out := make([]events.Record, 0, bytes.Count(payload, []byte{'\n'}))
	for len(payload) > 0 {
		line, rest, _ := bytes.Cut(payload, []byte{'\n'})
		payload = rest
		var l payloadLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, corrupt(len(out), err)
		}
		out = append(out, events.Record{
			ProjectID: l.ProjectID, DistinctID: l.DistinctID, AnonymousID: l.AnonymousID,
			ExternalID: l.ExternalID, Name: l.Name, MessageID: l.MessageID, Properties: l.Properties,
			Timestamp: time.UnixMicro(l.Timestamp).UTC(), ReceivedAt: time.UnixMicro(l.ReceivedAt).UTC(),
		})
	}
	return out, nil
}
