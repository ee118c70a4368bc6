package identity

import (
	"errors"
	"fmt"
)

var (
	// ErrBothIdentified refuses a merge of two profiles identified with different external ids.
	// It is wrapped in a *MergeRefusedError that names both profiles.
	ErrBothIdentified = errors.New("both profiles are identified with different external ids")
	// ErrInvalid marks a request the caller must change; it is wrapped in a *FieldError.
	ErrInvalid = errors.New("invalid argument")
	// ErrContention is returned when a write kept losing races past the retry bound.
	ErrContention = errors.New("too much contention on these ids, retry later")
	// ErrUnavailable means a backing store could not be reached; nothing was written.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrNotFound means no live profile answers to the given id.
	ErrNotFound = errors.New("profile not found")
	// ErrExternalIDTaken refuses to restore a profile whose external id now belongs to another.
	ErrExternalIDTaken = errors.New("the external id belongs to another profile now")
	// ErrRetry tells a Store that the snapshot moved under it and the attempt must be redone.
	ErrRetry = errors.New("identity graph changed concurrently")
)

// FieldError says which request field is wrong and why. Field uses the JSON name of the API,
// with dotted paths into traits ("traits.plan").
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every field error.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MergeRefusedError says a merge was refused and names the profile that was not merged.
type MergeRefusedError struct {
	ProfileID      string // external id's profile
	OtherProfileID string // the identified profile that would have been merged away
}

func (e *MergeRefusedError) Error() string {
	return fmt.Sprintf("not merging %s into %s: %v (set allowIdentifiedMerge to merge anyway)",
		e.OtherProfileID, e.ProfileID, ErrBothIdentified)
}

func (e *MergeRefusedError) Unwrap() error { return ErrBothIdentified }
