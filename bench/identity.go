package bench

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

func (r *runner) identifyNew(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId:  fmt.Sprintf("%s-new-%d-%d", r.ids, client, seq),
		AnonymousId: fmt.Sprintf("%s-anon-%d-%d", r.ids, client, seq),
		Traits:      traits(map[string]any{"email": fmt.Sprintf("u%d.%d@example.com", client, seq), "plan": "free"}),
	}))
	return 1, err
}

// identifyRepeat identifies a small set of users again and again with a changing trait: the
// path of a returning user whose profile exists.
func (r *runner) identifyRepeat(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId: fmt.Sprintf("%s-repeat-%d-%d", r.ids, client, seq%50),
		Traits:     traits(map[string]any{"plan": "pro", "visits": float64(seq)}),
	}))
	return 1, err
}

func (r *runner) alias(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Alias(ctx, connect.NewRequest(&profilesv1.AliasRequest{
		PreviousId: fmt.Sprintf("%s-legacy-%d-%d", r.ids, client, seq),
		ExternalId: fmt.Sprintf("%s-aliased-%d-%d", r.ids, client, seq%20),
	}))
	return 1, err
}
