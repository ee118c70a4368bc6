package postgres

// WithListStrategy returns a copy of r that switches List's strategies at other sizes
// (list.go), so that a test reaches each of them with a few dozen profiles.
func (r *ProfileReader) WithListStrategy(collectCap, walkFactor, walkMax int) *ProfileReader {
	c := *r
	c.collectCap, c.walkFactor, c.walkMax = collectCap, walkFactor, walkMax
	return &c
}

// The payload formats (payload.go).
const (
	PayloadFormat    = payloadFormat
	PayloadJSONLines = payloadJSONLines
)
