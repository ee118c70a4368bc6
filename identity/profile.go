package identity

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Profile is a person: a set of distinct ids, an optional external id and traits.
type Profile struct {
	ID         string
	ExternalID string // empty while the profile is anonymous
	Traits     Traits // as the SDKs set them
	Overrides  Traits // server-side edits; they win over Traits when read
	MergedInto string // set once merged away; the profile then resolves to that one
	Deleted    bool
	Version    int64
}

// Identified reports whether the profile has an external id.
func (p *Profile) Identified() bool { return p.ExternalID != "" }

// live reports whether the profile takes part in identity rules: merged-away profiles never
// do, and a deleted one is treated as unknown, so a later Identify starts a new profile.
func (p *Profile) live() bool { return p != nil && p.MergedInto == "" && !p.Deleted }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewProfileID returns "prof_" and 26 characters: 48 bits of milliseconds then 80 random bits,
// so ids sort roughly by creation and keep index inserts local.
func NewProfileID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "prof_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Outcome says what a write did.
type Outcome int

const (
	OutcomeUnspecified Outcome = iota
	OutcomeCreated             // a new profile
	OutcomeUpdated             // an existing profile, no id moved
	OutcomeLinked              // a new distinct id points at the profile
	OutcomeMerged              // OtherProfileID was merged into the profile
	OutcomeNotMerged           // both sides identified; OtherProfileID was left alone
)

var outcomeNames = [...]string{"unspecified", "created", "updated", "linked", "merged", "not_merged"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// Result is the answer to Identify and Alias. It is stored under the message id and replayed.
type Result struct {
	ProfileID      string  `json:"profileId"`
	Outcome        Outcome `json:"outcome"`
	OtherProfileID string  `json:"otherProfileId,omitempty"`
	Replayed       bool    `json:"-"`
}
