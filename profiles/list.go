package profiles

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/poluruprvn/profiles/identity"
)

// List limits, documented in the README.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	MaxOffset    = 100_000
	MaxQuery     = 200
)

// Op is a trait filter operator.
type Op int

// Filter operators. See db/postgres/filter.go for their exact semantics.
const (
	OpUnspecified Op = iota
	OpEq
	OpNeq
	OpContains
	OpExists
	OpNotExists
	OpGt
	OpGte
	OpLt
	OpLte
)

// Filter is one condition on a trait; a List's filters combine with AND.
type Filter struct {
	Key   string // a trait key, or a dotted path into nested objects
	Op    Op
	Value any // JSON scalar: nil, bool, float64 or string
}

// ListRequest is one List call.
type ListRequest struct {
	Query     string
	Filters   []Filter
	Limit     int
	Offset    int
	PageToken string
}

// Query is a validated ListRequest as the Store runs it. Order is by profile id, newest first
// (ids start with their creation time), which is stable across pages.
type Query struct {
	Text    string
	Filters []Filter
	Limit   int
	Offset  int
	After   string // keyset: only profiles with ids below this one
	// Matches is a recent count of the matches when one is kept, else 0: a hint for the
	// store's strategy, never an answer.
	Matches int
}

// ListResult is one page.
type ListResult struct {
	Profiles      []Profile
	Total         int
	NextPageToken string
}

type pageToken struct {
	After string `json:"a"`
	Query string `json:"q"` // hash of the query the token belongs to
}

// List searches live profiles.
func (s *Service) List(ctx context.Context, projectID string, req ListRequest) (ListResult, error) {
	q, err := req.query()
	if err != nil {
		return ListResult{}, err
	}
	key := projectID + "\x00" + req.hash()
	q.Matches = s.totals.peek(key)
	recs, total, err := s.store.List(ctx, projectID, q)
	if err == nil && total >= 0 && q.Matches > 0 {
		s.totals.forget(key) // the matches are fewer than the kept count said
	}
	if err == nil && total < 0 {
		total, err = s.totals.count(ctx, key, func(ctx context.Context) (int, error) {
			return s.store.Count(ctx, projectID, q)
		})
		if q.After == "" { // a kept total may predate profiles on this very page
			total = max(total, q.Offset+len(recs))
		}
	}
	if err != nil {
		return ListResult{}, err
	}
	profiles, err := s.withStats(ctx, projectID, recs)
	if err != nil {
		return ListResult{}, err
	}
	res := ListResult{Profiles: profiles, Total: total}
	if len(recs) == q.Limit {
		res.NextPageToken = encodeToken(pageToken{After: recs[len(recs)-1].ID, Query: req.hash()})
	}
	return res, nil
}

func (req ListRequest) query() (Query, error) {
	q := Query{Text: req.Query, Filters: req.Filters, Limit: req.Limit, Offset: req.Offset}
	switch {
	case len(req.Query) > MaxQuery:
		return q, &identity.FieldError{Field: "query", Reason: fmt.Sprintf("at most %d bytes", MaxQuery)}
	case req.Limit < 0 || req.Limit > MaxLimit:
		return q, &identity.FieldError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d (default %d)", MaxLimit, DefaultLimit)}
	case req.Offset < 0 || req.Offset > MaxOffset:
		return q, &identity.FieldError{Field: "offset", Reason: fmt.Sprintf("must be between 0 and %d; use pageToken to page deeper", MaxOffset)}
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if req.PageToken != "" {
		tok, err := decodeToken(req.PageToken)
		if err != nil || tok.Query != req.hash() {
			return q, &identity.FieldError{Field: "pageToken", Reason: "not a token of this query"}
		}
		q.After = tok.After
	}
	return q, nil
}

// hash identifies the query a page token belongs to, so a token is never used with other
// filters (which would skip or repeat profiles).
func (req ListRequest) hash() string {
	b, _ := json.Marshal(struct {
		Q string
		F []Filter
	}{req.Query, req.Filters})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

func encodeToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}
