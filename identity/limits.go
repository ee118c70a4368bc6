package identity

// Limits bound what one request may write. Every limit answers invalid_argument naming the
// field; the request body as a whole is bounded earlier, by the transport.
type Limits struct {
	MaxTraits      int // keys in traits plus setOnce plus unset, per request
	MaxKeyBytes    int // bytes in one trait key
	MaxValueBytes  int // bytes in one string value
	MaxDepth       int // nesting of objects and arrays inside one trait value
	MaxTraitsBytes int // encoded size of all trait values of one request
}

// DefaultLimits are generous for real profiles and small enough to keep a profile row, its job
// payload and its ClickHouse projection cheap.
var DefaultLimits = Limits{
	MaxTraits:      256,
	MaxKeyBytes:    128,
	MaxValueBytes:  8 << 10,
	MaxDepth:       5,
	MaxTraitsBytes: 64 << 10,
}
