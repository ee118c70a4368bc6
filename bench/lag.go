package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// A read-lag probe makes one write and then polls a read until the write shows, for at most
// its plan's limit (a probe that runs out counts as an error). The lag is from the write's
// answer to the answer of the first read that shows it, so it includes one read's latency and
// up to pollEvery of polling granularity. Probes start every plan.every, each polling on its
// own, so a lag of a second still gets dozens of samples in a scenario; a probe that would
// make more than maxProbesInFlight wait is skipped.
const maxProbesInFlight = 16

// probePlan paces the probes of one lag scenario. Polls cost reads (a Get is a ClickHouse
// query): they are part of the load, so slow lags are polled less often.
type probePlan struct {
	every     time.Duration // a new probe starts this often
	pollEvery time.Duration
	limit     time.Duration
}

var (
	readPlan  = probePlan{every: 100 * time.Millisecond, pollEvery: 10 * time.Millisecond, limit: 10 * time.Second}
	countPlan = probePlan{every: 250 * time.Millisecond, pollEvery: 100 * time.Millisecond, limit: 30 * time.Second}
)

// probe makes the write of probe number seq and returns the check that reports whether it is
// visible.
type probe func(ctx context.Context, seq int) (visible func(context.Context) (bool, error), err error)

// lag runs load from all clients but one while probes start every plan.every for d. The
// result counts probes; LoadPerSecond is the load's rate meanwhile.
func (r *runner) lag(ctx context.Context, name string, clients int, d time.Duration, load op, plan probePlan, p probe) (Result, error) {
	rec := &recorder{}
	start := time.Now()
	done := make(chan Result, 1)
	go func() { done <- drive(ctx, "load", "requests", max(clients-1, 1), budget{d: d}, load) }()
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxProbesInFlight)
	tick := time.NewTicker(plan.every)
	defer tick.Stop()
	for seq := 0; ctx.Err() == nil && time.Since(start) < d; seq++ {
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-slots }()
				visible, err := p(ctx, seq)
				if err != nil {
					rec.observe(0, 0, err)
					return
				}
				answered := time.Now()
				err = poll(ctx, visible, plan)
				rec.observe(time.Since(answered), 1, err)
			})
		default:
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	wg.Wait()
	loadRes := <-done
	res := rec.result(name, "probes", 1, time.Since(start))
	res.LoadPerSecond, res.LoadUnit = loadRes.PerSecond, loadRes.Unit
	return res, nil
}

func poll(ctx context.Context, visible func(context.Context) (bool, error), plan probePlan) error {
	deadline := time.Now().Add(plan.limit)
	for {
		ok, err := visible(ctx)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not visible after %s", plan.limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(plan.pollEvery):
		}
	}
}

// probeGet identifies a new user with a trait, then polls Get until the trait shows.
func (r *runner) probeGet(ctx context.Context, seq int) (func(context.Context) (bool, error), error) {
	id := fmt.Sprintf("%s-lagget-%d", r.ids, seq)
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId: id, Traits: traits(map[string]any{"probe": float64(seq)}),
	}))
	return func(ctx context.Context) (bool, error) {
		res, err := r.profiles.Get(ctx, connect.NewRequest(&profilesv1.GetRequest{ExternalId: id}))
		if connect.CodeOf(err) == connect.CodeNotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		v := res.Msg.GetProfile().GetTraits().GetFields()["probe"]
		return v != nil && v.GetNumberValue() == float64(seq), nil
	}, err
}

// probeList identifies a new user with a unique email, then polls List with that email as
// the query until it finds exactly one profile.
func (r *runner) probeList(ctx context.Context, seq int) (func(context.Context) (bool, error), error) {
	email := fmt.Sprintf("%s-laglist-%d@example.com", r.ids, seq)
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{
		ExternalId: fmt.Sprintf("%s-laglist-%d", r.ids, seq), Traits: traits(map[string]any{"email": email}),
	}))
	return func(ctx context.Context) (bool, error) {
		res, err := r.profiles.List(ctx, connect.NewRequest(&profilesv1.ListRequest{Query: email}))
		if err != nil {
			return false, err
		}
		return res.Msg.GetTotal() == 1, nil
	}, err
}

// probeCount tracks one event for a new anonymous id, then polls Get by that id until its
// eventCount is 1: the event reached ClickHouse and the id got its profile.
func (r *runner) probeCount(ctx context.Context, seq int) (func(context.Context) (bool, error), error) {
	id := fmt.Sprintf("%s-lagcount-%d", r.ids, seq)
	_, err := r.events.Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{
		Event: "lag_probe", AnonymousId: id, MessageId: id,
	}))
	return func(ctx context.Context) (bool, error) {
		res, err := r.profiles.Get(ctx, connect.NewRequest(&profilesv1.GetRequest{DistinctId: id}))
		if connect.CodeOf(err) == connect.CodeNotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return res.Msg.GetProfile().GetEventCount() >= 1, nil
	}, err
}

// probeMapping identifies a new user, then polls ClickHouse until the projection maps its id.
func (r *runner) probeMapping(ctx context.Context, seq int) (func(context.Context) (bool, error), error) {
	if r.deps.ClickHouse == nil {
		return nil, errors.New("needs a ClickHouse connection")
	}
	id := fmt.Sprintf("%s-lag-%d", r.ids, seq)
	_, err := r.sdk.Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{ExternalId: id}))
	return func(ctx context.Context) (bool, error) {
		var n uint64
		err := r.deps.ClickHouse.QueryRow(ctx, `SELECT count() FROM distinct_id_map WHERE distinct_id = ?`, id).Scan(&n)
		return n > 0, err
	}, err
}

func traits(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}
