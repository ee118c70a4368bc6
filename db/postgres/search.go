package postgres

import (
	"strconv"
	"strings"

	"github.com/poluruprvn/profiles/identity"
)

// maxSearchBytes bounds the indexed text of one profile; trigram indexes grow with it.
const maxSearchBytes = 4 << 10

// SearchText is what List's free-text query matches: the external id and every scalar trait
// value, lower-cased, one per line. Keys are left out so that "plan" does not match every
// profile that has a plan. Exported for the bulk loader of bench, which writes rows directly.
func SearchText(externalID string, traits identity.Traits) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(externalID))
	var walk func(v any)
	walk = func(v any) {
		if b.Len() >= maxSearchBytes {
			return
		}
		switch v := v.(type) {
		case string:
			b.WriteByte('\n')
			b.WriteString(strings.ToLower(v))
		case float64:
			b.WriteByte('\n')
			b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, v := range traits {
		walk(v)
	}
	s := b.String()
	if len(s) > maxSearchBytes {
		s = strings.ToValidUTF8(s[:maxSearchBytes], "")
	}
	return s
}
