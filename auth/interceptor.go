package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"
)

// Authenticator is the Connect interceptor that authenticates every call and applies the
// service policy (policy.go) before a handler runs.
type Authenticator struct {
	keys   KeyStore
	jwt    *JWTVerifier
	logger *slog.Logger
}

// NewAuthenticator authenticates API keys against keys and JWTs with jwt (nil: JWTs refused).
// keys (required) is asked on every request that carries a key: give it a KeyCache over the
// database store. A nil logger discards.
func NewAuthenticator(keys KeyStore, jwt *JWTVerifier, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{keys: keys, jwt: jwt, logger: logger}
}

// Interceptor returns the handler-side interceptor. Unary and streaming calls are treated
// alike; on the client side it does nothing.
func (a *Authenticator) Interceptor() connect.Interceptor { return interceptor{a} }

type interceptor struct{ a *Authenticator }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.a.check(ctx, req.Spec().Procedure, req.Header(), req.Peer())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.a.check(ctx, conn.Spec().Procedure, conn.RequestHeader(), conn.Peer())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// check authenticates and authorizes one call, logs a refusal, and returns ctx with the
// Principal or a *connect.Error.
func (a *Authenticator) check(ctx context.Context, procedure string, header http.Header, peer connect.Peer) (context.Context, error) {
	p, err := a.Authenticate(ctx, header)
	if err == nil {
		if err = authorize(procedure, p.Via); err != nil {
			err = fmt.Errorf("%w: %s", err, p.Via)
		}
	}
	if err != nil {
		// The error text names the cause and at most a key id: never a token (ParseToken and
		// Verify do not quote what they were given).
		level := slog.LevelWarn
		if !isClientError(err) {
			level = slog.LevelError
		}
		a.logger.Log(ctx, level, "request refused", "procedure", procedure, "peer", peer.Addr,
			"via", p.Via, "key_id", p.KeyID, "project_id", p.ProjectID, "error", err)
		return ctx, ConnectError(err)
	}
	return NewContext(ctx, p), nil
}

// Authenticate finds who is calling from an Authorization: Bearer header, without any service
// policy: the interceptor applies that. Every failure wraps ErrUnauthenticated (or is a store
// error: the store could not answer). On failure the returned Principal names whatever was
// learned (kind, key id), for the log.
func (a *Authenticator) Authenticate(ctx context.Context, header http.Header) (Principal, error) {
	token, err := bearer(header)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if strings.HasPrefix(token, "pk_") || strings.HasPrefix(token, "sk_") {
		return a.authenticateKey(ctx, token)
	}
	if strings.Count(token, ".") == 2 {
		p, err := a.jwt.Verify(ctx, token)
		if err != nil {
			return Principal{Via: ViaJWT}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		return p, nil
	}
	return Principal{}, fmt.Errorf("%w: %w: neither an api key nor a jwt", ErrUnauthenticated, ErrMalformedKey)
}

func (a *Authenticator) authenticateKey(ctx context.Context, token string) (Principal, error) {
	id, kind, secret, err := ParseToken(token)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	p := Principal{Via: viaOf(kind), KeyID: id}
	stored, err := a.keys.LookupKey(ctx, id)
	switch {
	case errors.Is(err, ErrKeyNotFound):
		return p, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	case err != nil:
		return p, fmt.Errorf("look up api key: %w", err)
	}
	// The secret is compared first and in constant time; kind and revocation are only
	// consulted for the holder of the right secret.
	if !VerifySecret(stored.SecretHash, secret) || stored.Kind != kind {
		return p, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrWrongSecret)
	}
	p.ProjectID = stored.ProjectID
	if stored.Revoked {
		return p, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrKeyRevoked)
	}
	return p, nil
}

func viaOf(k Kind) Via {
	if k == KindSDK {
		return ViaSDKKey
	}
	return ViaSecretKey
}

// bearer returns the token of the one Authorization header, which must use the Bearer scheme.
func bearer(h http.Header) (string, error) {
	values := h.Values("Authorization")
	if len(values) != 1 {
		return "", ErrNoCredentials
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", ErrNoCredentials
	}
	return token, nil
}
