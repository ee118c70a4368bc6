package main

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonCodec is Connect's JSON codec, except that answers carry their zero values: the API page
// shows "eventCount" and "total" on every profile and list, so a profile without events says
// "eventCount": 0 instead of leaving the field out.
type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("json codec: %T is not a proto.Message", m)
	}
	return protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(msg)
}

func (jsonCodec) Unmarshal(b []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("json codec: %T is not a proto.Message", m)
	}
	if len(b) == 0 {
		return nil // Connect GETs and empty bodies are the zero message
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, msg)
}
