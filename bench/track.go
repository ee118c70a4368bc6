package bench

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
)

// Each client tracks for its own small crowd of visitors: the first event of each makes an
// anonymous profile (the event worker observes unknown ids), later ones only add events.
const (
	trackVisitors  = 100  // per client, single Track
	batchVisitors  = 1000 // per client, TrackBatch
	trackBatchSize = 100  // events per TrackBatch request
)

func (r *runner) track(ctx context.Context, client, seq int) (int, error) {
	_, err := r.events.Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{
		Event:       "page_view",
		AnonymousId: fmt.Sprintf("%s-visitor-%d-%d", r.ids, client, seq%trackVisitors),
		MessageId:   fmt.Sprintf("%s-track-%d-%d", r.ids, client, seq),
		Properties:  props(seq),
	}))
	return 1, err
}

// trackBatch sends trackBatchSize events in one request; its rate is in events.
func (r *runner) trackBatch(ctx context.Context, client, seq int) (int, error) {
	evs := make([]*eventsv1.Event, trackBatchSize)
	for i := range evs {
		n := seq*trackBatchSize + i
		evs[i] = &eventsv1.Event{
			Event:       "page_view",
			AnonymousId: fmt.Sprintf("%s-crowd-%d-%d", r.ids, client, n%batchVisitors),
			MessageId:   fmt.Sprintf("%s-batch-%d-%d", r.ids, client, n),
			Properties:  props(n),
		}
	}
	_, err := r.events.TrackBatch(ctx, connect.NewRequest(&eventsv1.TrackBatchRequest{Events: evs}))
	return trackBatchSize, err
}

var paths = []string{"/", "/pricing", "/docs", "/blog", "/signup"}

func props(n int) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"path":     structpb.NewStringValue(paths[n%len(paths)]),
		"referrer": structpb.NewStringValue("google"),
		"n":        structpb.NewNumberValue(float64(n)),
	}}
}
