package main

import (
	"connectrpc.com/connect"
	"github.com/klauspost/compress/gzip"
)

// withGzip replaces Connect's gzip (the standard library's, at its default level) with
// klauspost/compress at its fastest level: the same format, 11% larger (a List page of 50
// profiles, 17 KB of JSON, makes 4.3 KB instead of 3.9 KB) in a fifth of the CPU (37 us instead
// of 200 us). Large answers are List pages, read server to server, where CPU is dearer than
// bytes; compressing them was 15% of the server's CPU under List load.
func withGzip() connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &gzip.Reader{} },
		func() connect.Compressor {
			w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
			return w
		},
	)
}
