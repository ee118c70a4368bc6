package events

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/poluruprvn/profiles/auth"
	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	"github.com/poluruprvn/profiles/internal/wire"
)

// Handler serves EventsSDKService. Mount it behind the auth interceptor and with
// connect.WithReadMaxBytes(MaxRequestBytes).
type Handler struct {
	svc    *Service
	logger *slog.Logger
}

var _ eventsv1connect.EventsSDKServiceHandler = (*Handler)(nil)

// NewHandler returns the EventsSDKService handler.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	return &Handler{svc: svc, logger: logger}
}

// Track implements eventsv1connect.EventsSDKServiceHandler.
func (h *Handler) Track(ctx context.Context, req *connect.Request[eventsv1.TrackRequest]) (*connect.Response[eventsv1.TrackResponse], error) {
	m := req.Msg
	e := Event{
		Name:        m.GetEvent(),
		AnonymousID: m.GetAnonymousId(),
		ExternalID:  m.GetExternalId(),
		Properties:  propertiesOf(m.GetProperties()),
		Timestamp:   timeOf(m.GetTimestamp()),
		MessageID:   m.GetMessageId(),
	}
	if err := h.svc.Track(ctx, projectOf(ctx), e); err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&eventsv1.TrackResponse{}), nil
}

// TrackBatch implements eventsv1connect.EventsSDKServiceHandler.
func (h *Handler) TrackBatch(ctx context.Context, req *connect.Request[eventsv1.TrackBatchRequest]) (*connect.Response[eventsv1.TrackBatchResponse], error) {
	in := req.Msg.GetEvents()
	es := make([]Event, len(in))
	for i, m := range in {
		es[i] = Event{
			Name:        m.GetEvent(),
			AnonymousID: m.GetAnonymousId(),
			ExternalID:  m.GetExternalId(),
			Properties:  propertiesOf(m.GetProperties()),
			Timestamp:   timeOf(m.GetTimestamp()),
			MessageID:   m.GetMessageId(),
		}
	}
	n, err := h.svc.TrackBatch(ctx, projectOf(ctx), es)
	if err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&eventsv1.TrackBatchResponse{Accepted: uint32(n)}), nil
}

func propertiesOf(s *structpb.Struct) map[string]any {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return wire.Map(s)
}

// timeOf returns the zero time for an absent timestamp. An out-of-range one (bad nanos, year
// 10000) converts to a time the range check refuses.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// projectOf returns the caller's project, or "" (refused as ErrNoProject) when no principal is
// present: the handler is mounted behind the auth interceptor, so that is a wiring bug.
func projectOf(ctx context.Context) string {
	p, _ := auth.FromContext(ctx)
	return p.ProjectID
}
