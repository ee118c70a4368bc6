package auth

import (
	"errors"

	"connectrpc.com/connect"
)

// Sentinels returned by this package and by the stores that implement its interfaces. Callers
// test them with errors.Is; ConnectError is the one table that turns them into Connect codes.
var (
	// ErrUnauthenticated marks any failure to establish who is calling. The Authenticator wraps
	// every such cause in it (a store's ErrKeyNotFound included), so the cause is logged and the
	// client sees one generic unauthenticated answer.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNoCredentials: the request carries no usable Authorization: Bearer header.
	ErrNoCredentials = errors.New("no bearer credentials")
	// ErrMalformedKey: a string that is not a well-formed API key (format or checksum).
	ErrMalformedKey = errors.New("malformed api key")
	// ErrKeyNotFound: no key with this id (in this project, where a project is given). It is
	// not_found for the Manager, and unauthenticated once the Authenticator has wrapped it.
	ErrKeyNotFound = errors.New("api key not found")
	// ErrKeyRevoked: the key exists but was revoked.
	ErrKeyRevoked = errors.New("api key revoked")
	// ErrWrongSecret: the key id exists but the secret (or the kind) does not match it.
	ErrWrongSecret = errors.New("api key secret does not match")
	// ErrInvalidJWT: a bearer token that is not a valid JWT for this deployment; it wraps the
	// golang-jwt error that says why (jwt.ErrTokenExpired, ...).
	ErrInvalidJWT = errors.New("invalid jwt")
	// ErrJWTDisabled: a JWT was presented but no JWT verification is configured.
	ErrJWTDisabled = errors.New("jwt authentication is not configured")
	// ErrNotAllowed: the credential is valid but may not call this service (an SDK key on
	// ProfilesService, a JWT on an SDK service).
	ErrNotAllowed = errors.New("credential not allowed for this service")
	// ErrUnknownService: the procedure belongs to no service this package has a policy for.
	ErrUnknownService = errors.New("no auth policy for this service")
	// ErrProjectNotFound: no project with this id.
	ErrProjectNotFound = errors.New("project not found")
	// ErrInvalidArgument: a name, kind or id given to the Manager is refused.
	ErrInvalidArgument = errors.New("invalid argument")
)

// Messages sent to clients. They are deliberately the same for every cause in a class: a caller
// must not learn whether a key id exists, was revoked, or belongs to another project.
const (
	msgUnauthenticated  = "missing or invalid credentials"
	msgPermissionDenied = "this credential may not call this service"
	msgUnavailable      = "authentication is temporarily unavailable"
)

// ConnectError maps an error of this package to a *connect.Error with a generic message. It is
// the only place where auth errors become codes. Unknown errors (a store that is down) become
// unavailable with a generic message: authentication could not be decided, nothing was done,
// and the cause is for the log only.
func ConnectError(err error) *connect.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnauthenticated),
		errors.Is(err, ErrNoCredentials), errors.Is(err, ErrMalformedKey), errors.Is(err, ErrKeyRevoked),
		errors.Is(err, ErrWrongSecret), errors.Is(err, ErrInvalidJWT),
		errors.Is(err, ErrJWTDisabled):
		return connect.NewError(connect.CodeUnauthenticated, errors.New(msgUnauthenticated))
	case errors.Is(err, ErrNotAllowed), errors.Is(err, ErrUnknownService):
		return connect.NewError(connect.CodePermissionDenied, errors.New(msgPermissionDenied))
	case errors.Is(err, ErrProjectNotFound):
		return connect.NewError(connect.CodeNotFound, errors.New("project not found"))
	case errors.Is(err, ErrKeyNotFound):
		return connect.NewError(connect.CodeNotFound, errors.New("api key not found"))
	case errors.Is(err, ErrInvalidArgument):
		// Manager errors name the field and the rule, never a secret; they may be shown.
		return connect.NewError(connect.CodeInvalidArgument, err)
	default:
		return connect.NewError(connect.CodeUnavailable, errors.New(msgUnavailable))
	}
}

// isClientError reports whether err is the caller's fault (logged at warn), as opposed to a
// failure on our side (logged at error).
func isClientError(err error) bool {
	return ConnectError(err).Code() != connect.CodeUnavailable
}
