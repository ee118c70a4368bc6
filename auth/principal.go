package auth

import "context"

// Via says which kind of credential authenticated a request.
type Via string

const (
	// ViaSDKKey: a publishable (pk_) API key.
	ViaSDKKey Via = "sdk_key"
	// ViaSecretKey: a secret (sk_) API key.
	ViaSecretKey Via = "secret_key"
	// ViaJWT: a signed JWT carrying the project in a claim.
	ViaJWT Via = "jwt"
)

// Principal is the authenticated caller. ProjectID scopes everything the request may read or
// write; a project id in a request body is never a substitute for it.
type Principal struct {
	ProjectID string
	Via       Via
	KeyID     string // the API key's id, for Via SDK or secret key
	Subject   string // the JWT's "sub", for ViaJWT (may be empty)
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the Authenticator put in ctx; ok is false when there is
// none (or it names no project, which the Authenticator never produces).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.ProjectID != ""
}

// MustProject returns the caller's project id. It is for handlers mounted behind the
// Authenticator, where a principal is always present; it panics otherwise, because a handler
// reached without one is a wiring bug that must not silently run unscoped.
func MustProject(ctx context.Context) string {
	p, ok := FromContext(ctx)
	if !ok {
		panic("auth: no principal in context; is the handler mounted behind auth.Authenticator?")
	}
	return p.ProjectID
}
