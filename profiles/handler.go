package profiles

import (
	"context"
	"log/slog"
	"math"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
	"github.com/poluruprvn/profiles/internal/wire"
)

// Handler serves ProfilesService.
type Handler struct {
	svc    *Service
	logger *slog.Logger
}

var _ profilesv1connect.ProfilesServiceHandler = (*Handler)(nil)

// NewHandler returns the ProfilesService handler.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	return &Handler{svc: svc, logger: logger}
}

// lookupRequest is every request that names one profile.
type lookupRequest interface {
	GetExternalId() string
	GetProfileId() string
	GetDistinctId() string
}

func lookupOf(m lookupRequest) Lookup {
	return Lookup{ExternalID: m.GetExternalId(), ProfileID: m.GetProfileId(), DistinctID: m.GetDistinctId()}
}

func (h *Handler) fail(ctx context.Context, spec connect.Spec, err error) error {
	return toConnect(ctx, h.logger, spec.Procedure, err)
}

// Get implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) Get(ctx context.Context, req *connect.Request[profilesv1.GetRequest]) (*connect.Response[profilesv1.GetResponse], error) {
	p, err := h.svc.Get(ctx, projectOf(ctx), lookupOf(req.Msg))
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&profilesv1.GetResponse{Profile: profileToProto(p)}), nil
}

// List implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) List(ctx context.Context, req *connect.Request[profilesv1.ListRequest]) (*connect.Response[profilesv1.ListResponse], error) {
	m := req.Msg
	in := ListRequest{Query: m.GetQuery(), Limit: int(m.GetLimit()), Offset: int(m.GetOffset()), PageToken: m.GetPageToken()}
	for _, f := range m.GetFilters() {
		in.Filters = append(in.Filters, Filter{Key: f.GetKey(), Op: Op(f.GetOp()), Value: wire.Value(f.GetValue())})
	}
	res, err := h.svc.List(ctx, projectOf(ctx), in)
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	out := &profilesv1.ListResponse{Total: saturate(uint64(res.Total)), NextPageToken: res.NextPageToken, Profiles: []*profilesv1.Profile{}}
	for _, p := range res.Profiles {
		out.Profiles = append(out.Profiles, profileToProto(p))
	}
	return connect.NewResponse(out), nil
}

// Delete implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) Delete(ctx context.Context, req *connect.Request[profilesv1.DeleteRequest]) (*connect.Response[profilesv1.DeleteResponse], error) {
	id, err := h.svc.Delete(ctx, projectOf(ctx), lookupOf(req.Msg))
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&profilesv1.DeleteResponse{ProfileId: id}), nil
}

// Restore implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) Restore(ctx context.Context, req *connect.Request[profilesv1.RestoreRequest]) (*connect.Response[profilesv1.RestoreResponse], error) {
	p, err := h.svc.Restore(ctx, projectOf(ctx), lookupOf(req.Msg))
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&profilesv1.RestoreResponse{Profile: profileToProto(p)}), nil
}

// SetTraitOverrides implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) SetTraitOverrides(ctx context.Context, req *connect.Request[profilesv1.SetTraitOverridesRequest]) (*connect.Response[profilesv1.SetTraitOverridesResponse], error) {
	p, err := h.svc.SetOverrides(ctx, projectOf(ctx), lookupOf(req.Msg), wire.Traits(req.Msg.GetTraits()))
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&profilesv1.SetTraitOverridesResponse{Profile: profileToProto(p)}), nil
}

// RemoveTraitOverrides implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) RemoveTraitOverrides(ctx context.Context, req *connect.Request[profilesv1.RemoveTraitOverridesRequest]) (*connect.Response[profilesv1.RemoveTraitOverridesResponse], error) {
	p, err := h.svc.RemoveOverrides(ctx, projectOf(ctx), lookupOf(req.Msg), req.Msg.GetKeys())
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&profilesv1.RemoveTraitOverridesResponse{Profile: profileToProto(p)}), nil
}

// ListEvents implements profilesv1connect.ProfilesServiceHandler.
func (h *Handler) ListEvents(ctx context.Context, req *connect.Request[profilesv1.ListEventsRequest]) (*connect.Response[profilesv1.ListEventsResponse], error) {
	events, next, err := h.svc.History(ctx, projectOf(ctx), lookupOf(req.Msg), int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, h.fail(ctx, req.Spec(), err)
	}
	out := &profilesv1.ListEventsResponse{NextPageToken: next, Events: []*profilesv1.ProfileEvent{}}
	for _, e := range events {
		props, _ := structpb.NewStruct(e.Properties)
		out.Events = append(out.Events, &profilesv1.ProfileEvent{
			Event: e.Name, DistinctId: e.DistinctID, Properties: props,
			Timestamp: timestamppb.New(e.Timestamp), MessageId: e.MessageID,
		})
	}
	return connect.NewResponse(out), nil
}

func profileToProto(p Profile) *profilesv1.Profile {
	traits, err := structpb.NewStruct(p.Traits)
	if err != nil {
		traits = &structpb.Struct{} // unreachable: traits are validated JSON on the way in
	}
	return &profilesv1.Profile{
		Id:         p.ID,
		ExternalId: p.ExternalID,
		Traits:     traits,
		FirstSeen:  timestamppb.New(p.FirstSeen),
		LastSeen:   timestamppb.New(p.LastSeen),
		EventCount: saturate(p.EventCount),
	}
}

// saturate keeps counts JSON numbers (uint32) as on the API page; past 4,294,967,295 they cap.
func saturate(n uint64) uint32 {
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}
