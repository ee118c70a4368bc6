package wire

import (
	"google.golang.org/protobuf/types/known/structpb"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/identity"
)

// Traits converts a request's traits; a nil or empty Struct gives nil.
func Traits(s *structpb.Struct) identity.Traits {
	return identity.Traits(Map(s))
}

// IdentifyRequest converts the API's Identify request for the identity rules. The API and the
// NATS bridge both go through it, so the two can never read a request differently.
func IdentifyRequest(m *profilesv1.IdentifyRequest) identity.IdentifyRequest {
	in := identity.IdentifyRequest{
		ExternalID:  m.GetExternalId(),
		AnonymousID: m.GetAnonymousId(),
		MessageID:   m.GetMessageId(),
		Traits: identity.TraitOps{
			Set:     Traits(m.GetTraits()),
			SetOnce: Traits(m.GetSetOnce()),
			Unset:   m.GetUnset(),
		},
	}
	if m.GetTimestamp() != nil {
		in.Timestamp = m.GetTimestamp().AsTime()
	}
	return in
}

// AliasRequest converts the API's Alias request for the identity rules.
func AliasRequest(m *profilesv1.AliasRequest) identity.AliasRequest {
	return identity.AliasRequest{
		PreviousID:           m.GetPreviousId(),
		ExternalID:           m.GetExternalId(),
		MessageID:            m.GetMessageId(),
		AllowIdentifiedMerge: m.GetAllowIdentifiedMerge(),
	}
}
