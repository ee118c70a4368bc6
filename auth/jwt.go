package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultProjectClaim is the claim that names the caller's project when JWTConfig leaves
// ProjectClaim empty.
const DefaultProjectClaim = "project_id"

// DefaultJWKSRefresh is how often a JWKS file or URL is reloaded when JWTConfig leaves
// JWKSRefresh zero.
const DefaultJWKSRefresh = 15 * time.Minute

// maxTokenBytes refuses absurd bearer tokens before any decoding.
const maxTokenBytes = 8 << 10

// maxLeeway bounds JWTConfig.Leeway: clock skew is seconds, not hours.
const maxLeeway = 5 * time.Minute

// JWTConfig says which JWTs a deployment accepts. Leave HS256Secret, JWKSFile and JWKSURL all
// empty to turn JWT authentication off.
//
// The accepted algorithms follow from the keys, never from the token: HS256 only with
// HS256Secret, RS256 only with RSA keys (2048 bits or more) and ES256 only with P-256 keys from
// the JWKS. Every token must carry exp; nbf and iat are checked when present.
//
// With a JWKS, Issuer and Audience are required: a JWKS usually belongs to an identity provider
// that signs tokens for many applications, and only iss and aud tell ours apart. With only a
// shared secret they are optional (the secret is ours alone) and checked when set.
type JWTConfig struct {
	HS256Secret  string        // at least 32 bytes
	JWKSFile     string        // a JSON Web Key Set on disk, reloaded every JWKSRefresh
	JWKSURL      string        // https (or http to a loopback host), fetched every JWKSRefresh
	Issuer       string        // required "iss" when set
	Audience     string        // required among "aud" when set
	ProjectClaim string        // claim holding the project id; DefaultProjectClaim when empty
	Leeway       time.Duration // clock skew allowed on exp, nbf and iat; 0 to 5 minutes

	JWKSRefresh time.Duration // DefaultJWKSRefresh when zero
	HTTPClient  *http.Client  // for JWKSURL; a client with a 10 s timeout when nil
	Logger      *slog.Logger  // JWKS refresh failures; slog.Default() when nil
}

// JWTVerifier checks bearer JWTs. It is safe for concurrent use. When it loads a JWKS it owns a
// refresh goroutine: call Close (or cancel the context given to NewJWTVerifier) to stop it.
type JWTVerifier struct {
	hmac         []byte
	jwks         *jwksSource
	parser       *jwt.Parser
	projectClaim string
	closeOnce    sync.Once
}

// NewJWTVerifier checks cfg and loads the JWKS it names, failing when the first load fails. It
// returns (nil, nil) when cfg configures no key at all: JWTs are then refused. ctx bounds the
// first load and the life of the refresh goroutine.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.HS256Secret == "" && cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		return nil, nil
	}
	if cfg.JWKSFile != "" && cfg.JWKSURL != "" {
		return nil, errors.New("jwt: set a JWKS file or a JWKS URL, not both")
	}
	if cfg.HS256Secret != "" && len(cfg.HS256Secret) < 32 {
		return nil, errors.New("jwt: the HS256 secret must be at least 32 bytes")
	}
	useJWKS := cfg.JWKSFile != "" || cfg.JWKSURL != ""
	if useJWKS && (cfg.Issuer == "" || cfg.Audience == "") {
		return nil, errors.New("jwt: a JWKS requires an issuer and an audience to check")
	}
	if cfg.Leeway < 0 || cfg.Leeway > maxLeeway {
		return nil, fmt.Errorf("jwt: leeway must be between 0 and %s", maxLeeway)
	}
	if cfg.ProjectClaim == "" {
		cfg.ProjectClaim = DefaultProjectClaim
	}

	var methods []string
	v := &JWTVerifier{projectClaim: cfg.ProjectClaim}
	if cfg.HS256Secret != "" {
		v.hmac = []byte(cfg.HS256Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if useJWKS {
		src, err := newJWKSSource(ctx, cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = src
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks a JWT's signature and claims and returns its principal. Every refusal wraps
// ErrInvalidJWT (and, where golang-jwt names the cause, its error: jwt.ErrTokenExpired, ...).
// Verify never fetches keys: a token signed by a key id the cached JWKS does not know is refused
// and asks the refresh goroutine for an early, rate-limited reload.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	if v == nil {
		return Principal{}, ErrJWTDisabled
	}
	if len(token) > maxTokenBytes {
		return Principal{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidJWT, maxTokenBytes)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidJWT, err)
	}
	project, ok := claims[v.projectClaim].(string)
	if !ok || !validClaimID(project) {
		return Principal{}, fmt.Errorf("%w: claim %q is missing or not a project id", ErrInvalidJWT, v.projectClaim)
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidJWT, err)
	}
	return Principal{ProjectID: project, Via: ViaJWT, Subject: sub}, nil
}

// Close stops the JWKS refresh goroutine, if any, and waits for it.
func (v *JWTVerifier) Close() {
	if v == nil || v.jwks == nil {
		return
	}
	v.closeOnce.Do(v.jwks.close)
}

// keyFor picks the verification key from the algorithm and key id in the token header. The
// parser has already refused any algorithm outside the configured list (alg "none" included);
// this is the second lock: the HMAC secret only ever verifies HS256, and a JWKS key only the one
// algorithm its type allows, so a token cannot choose to have an RSA public key used as an
// HMAC secret (TestVerifyJWT, "HS256 signed with the RSA public key").
func (v *JWTVerifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		if v.hmac == nil {
			return nil, errors.New("HS256 is not accepted")
		}
		return v.hmac, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		if v.jwks == nil {
			return nil, fmt.Errorf("%s is not accepted", alg)
		}
		kid, _ := t.Header["kid"].(string)
		return v.jwks.key(kid, alg)
	}
	return nil, fmt.Errorf("algorithm %q is not accepted", alg)
}

// validClaimID accepts a project id from a token: 1 to MaxNameBytes bytes, no whitespace or
// control characters.
func validClaimID(s string) bool {
	return s != "" && len(s) <= MaxNameBytes &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar })
}
