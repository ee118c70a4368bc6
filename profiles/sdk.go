package profiles

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"

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
	res, err := h.identity.Identify(ctx, projectOf(ctx), wire.IdentifyRequest(req.Msg))
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
	res, err := h.identity.Alias(ctx, projectOf(ctx), wire.AliasRequest(req.Msg))
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
