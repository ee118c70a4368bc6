package bench

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

func (r *runner) identifyNew(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId:  fmt.Sprintf("%s-new-%d-%d", r.cfg.RunID, client, seq),
		AnonymousId: fmt.Sprintf("%s-anon-%d-%d", r.cfg.RunID, client, seq),
		Traits:      traits(map[string]any{"email": fmt.Sprintf("u%d.%d@example.com", client, seq), "plan": "free"}),
	}))
	return 1, err
}

// identifyRepeat identifies a small set of users again and again with a changing trait: the
// path of a returning user whose profile exists.
func (r *runner) identifyRepeat(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId: fmt.Sprintf("%s-repeat-%d-%d", r.cfg.RunID, client, seq%50),
		Traits:     traits(map[string]any{"plan": "pro", "visits": float64(seq)}),
	}))
	return 1, err
}

func (r *runner) alias(ctx context.Context, client, seq int) (int, error) {
	_, err := r.sdk.Alias(ctx, connect.NewRequest(&profilesv1.AliasRequest{
		PreviousId: fmt.Sprintf("%s-legacy-%d-%d", r.cfg.RunID, client, seq),
		ExternalId: fmt.Sprintf("%s-aliased-%d-%d", r.cfg.RunID, client, seq%20),
	}))
	return 1, err
}

// lagIdentify runs identify-new load from all but one client while the last one measures the
// time from an Identify's answer to its mapping being readable in ClickHouse.
func (r *runner) lagIdentify(ctx context.Context, clients int, d time.Duration) (Result, error) {
	if r.deps.ClickHouse == nil {
		return Result{}, fmt.Errorf("needs a ClickHouse connection")
	}
	rec := &recorder{}
	start := time.Now()
	loadCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- drive(loadCtx, "load", "requests", max(clients-1, 1), d, r.identifyNew) }()
	for seq := 0; loadCtx.Err() == nil; seq++ {
		id := fmt.Sprintf("%s-lag-%d", r.cfg.RunID, seq)
		_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{ExternalId: id}))
		if err != nil {
			rec.observe(0, 0, err)
			continue
		}
		answered := time.Now()
		err = r.waitVisible(ctx, id, 10*time.Second)
		rec.observe(time.Since(answered), 1, err)
		time.Sleep(20 * time.Millisecond)
	}
	<-done
	res := rec.result("lag-identify-to-clickhouse", "probes", 1, time.Since(start))
	return res, nil
}

// waitVisible polls ClickHouse until the mapping of distinctID exists.
func (r *runner) waitVisible(ctx context.Context, distinctID string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var n uint64
		err := r.deps.ClickHouse.QueryRow(ctx, `SELECT count() FROM distinct_id_map WHERE distinct_id = ?`, distinctID).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("mapping of %s not visible after %s", distinctID, limit)
}

func traits(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}
