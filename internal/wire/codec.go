package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// JSONUnmarshaler is a request type that reads its own Connect JSON, as exactly as protojson
// would read the message it stands for (JSONReader).
type JSONUnmarshaler interface {
	UnmarshalProtoJSON(b []byte) error
}

// BinaryUnmarshaler is a request type that reads its own binary protobuf.
type BinaryUnmarshaler interface {
	UnmarshalProtoBinary(b []byte) error
}

// JSONCodec is Connect's JSON codec with two changes. Answers carry their zero values: the API
// page shows "eventCount" and "total" on every profile and list, so a profile without events
// says "eventCount": 0 instead of leaving the field out. And a request type that is a
// JSONUnmarshaler reads itself, so a handler can take its request as domain values.
type JSONCodec struct{}

// Name implements connect.Codec.
func (JSONCodec) Name() string { return "json" }

// Marshal implements connect.Codec.
func (JSONCodec) Marshal(m any) ([]byte, error) {
	msg, err := message("json", m)
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(msg)
}

// Unmarshal implements connect.Codec.
func (JSONCodec) Unmarshal(b []byte, m any) error {
	if len(b) == 0 {
		return nil // Connect GETs and empty bodies are the zero message
	}
	if u, ok := m.(JSONUnmarshaler); ok {
		return u.UnmarshalProtoJSON(b)
	}
	msg, err := message("json", m)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, msg)
}

// ProtoCodec is Connect's binary protobuf codec, except that a request type that is a
// BinaryUnmarshaler reads itself.
type ProtoCodec struct{}

// Name implements connect.Codec.
func (ProtoCodec) Name() string { return "proto" }

// IsBinary tells Connect the encoding is binary.
func (ProtoCodec) IsBinary() bool { return true }

// Marshal implements connect.Codec.
func (c ProtoCodec) Marshal(m any) ([]byte, error) { return c.MarshalAppend(nil, m) }

// MarshalAppend lets Connect marshal into its pooled buffers.
func (ProtoCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	msg, err := message("proto", m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, msg)
}

// MarshalStable is what Connect uses for GET requests' query strings.
func (ProtoCodec) MarshalStable(m any) ([]byte, error) {
	msg, err := message("proto", m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(msg)
}

// Unmarshal implements connect.Codec.
func (ProtoCodec) Unmarshal(b []byte, m any) error {
	if u, ok := m.(BinaryUnmarshaler); ok {
		return u.UnmarshalProtoBinary(b)
	}
	msg, err := message("proto", m)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, msg); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	return nil
}

// message is m as the proto.Message every codec but a request's own reader needs.
func message(codec string, m any) (proto.Message, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%s codec: %T is not a proto.Message", codec, m)
	}
	return msg, nil
}
