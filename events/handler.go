package events

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/poluruprvn/profiles/auth"
	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	"github.com/poluruprvn/profiles/internal/wire"
)

// Handler serves EventsSDKService. Mount it with NewConnectHandler, behind the auth
// interceptor and with connect.WithReadMaxBytes(MaxRequestBytes).
type Handler struct {
	svc    *Service
	logger *slog.Logger
}

// NewHandler returns the EventsSDKService handler.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	return &Handler{svc: svc, logger: logger}
}

// NewConnectHandler is eventsv1connect.NewEventsSDKServiceHandler for h, whose requests are
// TrackRequest and TrackBatchRequest instead of the generated messages: it serves the same
// procedures, with the same schema, over Connect, gRPC and gRPC-Web. It adds the codecs that
// read those requests (wire.JSONCodec, wire.ProtoCodec) after opts.
func NewConnectHandler(h *Handler, opts ...connect.HandlerOption) (string, http.Handler) {
	methods := eventsv1.File_events_v1_events_sdk_proto.Services().ByName("EventsSDKService").Methods()
	opts = append(opts, connect.WithCodec(wire.JSONCodec{}), connect.WithCodec(wire.ProtoCodec{}))
	track := connect.NewUnaryHandler(eventsv1connect.EventsSDKServiceTrackProcedure, h.Track,
		connect.WithSchema(methods.ByName("Track")), connect.WithHandlerOptions(opts...))
	batch := connect.NewUnaryHandler(eventsv1connect.EventsSDKServiceTrackBatchProcedure, h.TrackBatch,
		connect.WithSchema(methods.ByName("TrackBatch")), connect.WithHandlerOptions(opts...))
	return "/" + eventsv1connect.EventsSDKServiceName + "/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case eventsv1connect.EventsSDKServiceTrackProcedure:
			track.ServeHTTP(w, r)
		case eventsv1connect.EventsSDKServiceTrackBatchProcedure:
			batch.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// Track records one event.
func (h *Handler) Track(ctx context.Context, req *connect.Request[TrackRequest]) (*connect.Response[eventsv1.TrackResponse], error) {
	if err := h.svc.Track(ctx, projectOf(ctx), req.Msg.Event); err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&eventsv1.TrackResponse{}), nil
}

// TrackBatch records many events, all or none.
func (h *Handler) TrackBatch(ctx context.Context, req *connect.Request[TrackBatchRequest]) (*connect.Response[eventsv1.TrackBatchResponse], error) {
	n, err := h.svc.TrackBatch(ctx, projectOf(ctx), req.Msg.Events)
	if err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&eventsv1.TrackBatchResponse{Accepted: uint32(n)}), nil
}

// projectOf returns the caller's project, or "" (refused as ErrNoProject) when no principal is
// present: the handler is mounted behind the auth interceptor, so that is a wiring bug.
func projectOf(ctx context.Context) string {
	p, _ := auth.FromContext(ctx)
	return p.ProjectID
}
