package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDBytes bounds distinct ids, external ids and message ids.
const MaxIDBytes = 200

// junkIDs are values that SDKs and integrations send when they have no id at all: stringified
// nulls, placeholders and defaults. Accepting one would merge every user who sent it into one
// profile. Compared case-insensitively after trimming spaces and quotes. Pinned by TestValidateID.
var junkIDs = map[string]bool{
	"undefined": true, "null": true, "nil": true, "none": true, "nan": true,
	"anonymous": true, "guest": true, "unknown": true, "not_authenticated": true,
	"[object object]": true, "0": true, "-1": true, "true": true, "false": true,
	"id": true, "distinct_id": true, "distinctid": true, "user_id": true, "userid": true,
	"email": true, "{}": true, "[]": true,
}

// ValidateID refuses ids that are clearly not ids. field names the request field.
func ValidateID(field, id string) error {
	switch {
	case id == "":
		return fieldErr(field, "must not be empty")
	case len(id) > MaxIDBytes:
		return fieldErr(field, "must be at most %d bytes, got %d", MaxIDBytes, len(id))
	case !utf8.ValidString(id):
		return fieldErr(field, "must be valid UTF-8")
	case strings.TrimSpace(id) == "":
		return fieldErr(field, "must not be only whitespace")
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fieldErr(field, "must not contain control characters")
	}
	if junkIDs[strings.ToLower(strings.Trim(id, " \"'"))] {
		return fieldErr(field, "%q is a placeholder, not an id", id)
	}
	return nil
}

// validateMessageID checks an optional idempotency key.
func validateMessageID(field, id string) error {
	if id == "" {
		return nil
	}
	if len(id) > MaxIDBytes {
		return fieldErr(field, "must be at most %d bytes, got %d", MaxIDBytes, len(id))
	}
	if !utf8.ValidString(id) || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return fieldErr(field, "must be printable UTF-8")
	}
	return nil
}
