package profiles

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/poluruprvn/profiles/auth"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/internal/wire"
)

// SDKHandler serves ProfilesSDKService.
type SDKHandler struct {
	identity *identity.Service
	logger   *slog.Logger
}

var _ profilesv1connect.ProfilesSDKServiceHandler = (*SDKHandler)(nil)

// NewSDKHandler returns the ProfilesSDKService handler.
func NewSDKHandler(svc *identity.Service, logger *slog.Logger) *SDKHandler {
	return &SDKHandler{identity: svc, logger: logger}
}

// Identify implements profilesv1connect.ProfilesSDKServiceHandler.
func (h *SDKHandler) Identify(ctx context.Context, req *connect.Request[profilesv1.IdentifyRequest]) (*connect.Response[profilesv1.IdentifyResponse], error) {
	m := req.Msg
	in := identity.IdentifyRequest{
		ExternalID:  m.GetExternalId(),
		AnonymousID: m.GetAnonymousId(),
		MessageID:   m.GetMessageId(),
		Traits: identity.TraitOps{
			Set:     traitsOf(m.GetTraits()),
			SetOnce: traitsOf(m.GetSetOnce()),
			Unset:   m.GetUnset(),
		},
	}
	if m.GetTimestamp() != nil {
		in.Timestamp = m.GetTimestamp().AsTime()
	}
	res, err := h.identity.Identify(ctx, projectOf(ctx), in)
	if err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&profilesv1.IdentifyResponse{
		ProfileId:      res.ProfileID,
		Outcome:        outcomeToProto(res.Outcome),
		OtherProfileId: res.OtherProfileID,
		Replayed:       res.Replayed,
	}), nil
}

// Alias implements profilesv1connect.ProfilesSDKServiceHandler.
func (h *SDKHandler) Alias(ctx context.Context, req *connect.Request[profilesv1.AliasRequest]) (*connect.Response[profilesv1.AliasResponse], error) {
	m := req.Msg
	res, err := h.identity.Alias(ctx, projectOf(ctx), identity.AliasRequest{
		PreviousID:           m.GetPreviousId(),
		ExternalID:           m.GetExternalId(),
		MessageID:            m.GetMessageId(),
		AllowIdentifiedMerge: m.GetAllowIdentifiedMerge(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.logger, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&profilesv1.AliasResponse{
		ProfileId:      res.ProfileID,
		Outcome:        outcomeToProto(res.Outcome),
		OtherProfileId: res.OtherProfileID,
		Replayed:       res.Replayed,
	}), nil
}

func traitsOf(s *structpb.Struct) identity.Traits {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return wire.Map(s)
}

// projectOf returns the caller's project. The auth interceptor runs before every handler, so
// a missing principal is a wiring bug; the empty project then matches no row.
func projectOf(ctx context.Context) string {
	p, _ := auth.FromContext(ctx)
	return p.ProjectID
}

func outcomeToProto(o identity.Outcome) profilesv1.Outcome {
	switch o {
	case identity.OutcomeCreated:
		return profilesv1.Outcome_OUTCOME_CREATED
	case identity.OutcomeUpdated:
		return profilesv1.Outcome_OUTCOME_UPDATED
	case identity.OutcomeLinked:
		return profilesv1.Outcome_OUTCOME_LINKED
	case identity.OutcomeMerged:
		return profilesv1.Outcome_OUTCOME_MERGED
	case identity.OutcomeNotMerged:
		return profilesv1.Outcome_OUTCOME_NOT_MERGED_BOTH_IDENTIFIED
	}
	return profilesv1.Outcome_OUTCOME_UNSPECIFIED
}
