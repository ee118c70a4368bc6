package profiles

import (
	"errors"
	"testing"

	"github.com/poluruprvn/profiles/identity"
)

func TestListRequestQuery(t *testing.T) {
	t.Parallel()
	q, err := ListRequest{}.query()
	if err != nil || q.Limit != DefaultLimit {
		t.Fatalf("empty request = %+v, %v; want the default limit %d", q, err, DefaultLimit)
	}
	for name, req := range map[string]ListRequest{
		"limit":     {Limit: MaxLimit + 1},
		"offset":    {Offset: -1},
		"query":     {Query: string(make([]byte, MaxQuery+1))},
		"pageToken": {PageToken: "not-a-token"},
	} {
		_, err := req.query()
		var fe *identity.FieldError
		if !errors.As(err, &fe) || fe.Field != name {
			t.Errorf("%s: err = %v, want a FieldError on %s", name, err, name)
		}
	}
}

// A page token only continues the query it came from: with other filters it would skip or
// repeat profiles.
func TestPageTokenBelongsToItsQuery(t *testing.T) {
	t.Parallel()
	a := ListRequest{Query: "ann"}
	tok := encodeToken(pageToken{After: "prof_x", Query: a.hash()})
	a.PageToken = tok
	q, err := a.query()
	if err != nil || q.After != "prof_x" {
		t.Fatalf("own token = %+v, %v; want to continue after prof_x", q, err)
	}
	b := ListRequest{Query: "bob", PageToken: tok}
	if _, err := b.query(); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("token of another query = %v, want invalid", err)
	}
}

func TestLookupValidate(t *testing.T) {
	t.Parallel()
	for _, l := range []Lookup{{}, {ExternalID: "a", ProfileID: "b"}, {DistinctID: "undefined"}} {
		if err := l.validate(); !errors.Is(err, identity.ErrInvalid) {
			t.Errorf("Lookup %+v: err = %v, want invalid", l, err)
		}
	}
	if err := (Lookup{ProfileID: "prof_1"}).validate(); err != nil {
		t.Errorf("a profile id lookup was refused: %v", err)
	}
}
