// Package wire turns what the API receives into the plain values the domain packages validate
// and store: the generated protobuf types (Map, IdentifyRequest), or, for requests that read
// themselves, Connect JSON read straight into those values (JSONReader), as exactly as protojson
// would read the message. Its Connect codecs (JSONCodec, ProtoCodec) hand such requests their
// own bytes.
package wire
