package auth

import (
	"strings"

	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// policies says which credentials may call each service. A service missing here is refused to
// everyone: a new service must be given a policy before it can be reached.
var policies = map[string]map[Via]bool{
	// SDK services: a publishable key from a browser or app, or a secret key from a server-side
	// SDK. A JWT is a dashboard or backend credential and does not belong here.
	profilesv1connect.ProfilesSDKServiceName: {ViaSDKKey: true, ViaSecretKey: true},
	eventsv1connect.EventsSDKServiceName:     {ViaSDKKey: true, ViaSecretKey: true},
	// Server-side reads and edits: a secret key or a JWT; a publishable key is public and may
	// never read or change profiles.
	profilesv1connect.ProfilesServiceName: {ViaSecretKey: true, ViaJWT: true},
}

// authorize reports ErrUnknownService or ErrNotAllowed when via may not call procedure.
func authorize(procedure string, via Via) error {
	allowed, ok := policies[serviceOf(procedure)]
	if !ok {
		return ErrUnknownService
	}
	if !allowed[via] {
		return ErrNotAllowed
	}
	return nil
}

// serviceOf returns "pkg.Service" from "/pkg.Service/Method".
func serviceOf(procedure string) string {
	procedure = strings.TrimPrefix(procedure, "/")
	if i := strings.LastIndexByte(procedure, '/'); i >= 0 {
		return procedure[:i]
	}
	return ""
}
