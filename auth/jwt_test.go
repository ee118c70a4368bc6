package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/auth"
)

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	both := f.verifier(t, f.config())
	jwksOnly := f.config()
	jwksOnly.HS256Secret = ""
	onlyJWKS := f.verifier(t, jwksOnly)
	hsOnly := f.verifier(t, auth.JWTConfig{HS256Secret: testSecret})
	custom := f.config()
	custom.ProjectClaim = "https://example.test/project"
	customClaim := f.verifier(t, custom)
	lenient := f.config()
	lenient.Leeway = time.Minute
	withLeeway := f.verifier(t, lenient)

	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := auth.Principal{ProjectID: testProject, Via: auth.ViaJWT, Subject: "user-42"}

	for _, tc := range []struct {
		name  string
		v     *auth.JWTVerifier
		token string
		want  auth.Principal
		cause error // also wrapped, when golang-jwt names the cause
	}{
		{name: "HS256 valid", v: both, token: f.hs256(t, claims(nil)), want: valid},
		{name: "RS256 valid", v: both, token: f.rs256(t, claims(nil)), want: valid},
		{name: "ES256 valid", v: both, token: f.es256(t, claims(nil)), want: valid},
		{name: "HS256 with only a secret configured", v: hsOnly, token: f.hs256(t, claims(nil)), want: valid},
		{name: "no sub", v: both, token: f.rs256(t, claims(map[string]any{"sub": nil})), want: auth.Principal{ProjectID: testProject, Via: auth.ViaJWT}},
		{name: "audience list containing ours", v: both, token: f.rs256(t, claims(map[string]any{"aud": []string{"other", testAudience}})), want: valid},
		{name: "custom project claim", v: customClaim, token: f.rs256(t, claims(map[string]any{"project_id": nil, "https://example.test/project": "proj_custom"})),
			want: auth.Principal{ProjectID: "proj_custom", Via: auth.ViaJWT, Subject: "user-42"}},
		{name: "expired within leeway", v: withLeeway, token: f.rs256(t, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), want: valid},

		{name: "expired", v: both, token: f.rs256(t, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), cause: jwt.ErrTokenExpired},
		{name: "expired HS256", v: both, token: f.hs256(t, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), cause: jwt.ErrTokenExpired},
		{name: "not yet valid", v: both, token: f.rs256(t, claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()})), cause: jwt.ErrTokenNotValidYet},
		{name: "issued in the future", v: both, token: f.rs256(t, claims(map[string]any{"iat": now.Add(10 * time.Minute).Unix()})), cause: jwt.ErrTokenUsedBeforeIssued},
		{name: "wrong issuer", v: both, token: f.rs256(t, claims(map[string]any{"iss": "https://evil.test/"})), cause: jwt.ErrTokenInvalidIssuer},
		{name: "no issuer", v: both, token: f.rs256(t, claims(map[string]any{"iss": nil})), cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "wrong audience", v: both, token: f.es256(t, claims(map[string]any{"aud": "another-api"})), cause: jwt.ErrTokenInvalidAudience},
		{name: "no audience", v: both, token: f.es256(t, claims(map[string]any{"aud": nil})), cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "missing exp", v: both, token: f.rs256(t, claims(map[string]any{"exp": nil})), cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "missing exp HS256", v: hsOnly, token: f.hs256(t, claims(map[string]any{"exp": nil})), cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "alg none", v: both, token: f.none(t, claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 signed with the RSA public key, secret also configured", v: both, token: f.confused(t, claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 signed with the RSA public key, JWKS only", v: onlyJWKS, token: f.confused(t, claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 when only a secret is configured", v: hsOnly, token: f.rs256(t, claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 claiming the EC key's kid", v: both, token: sign(t, jwt.SigningMethodRS256, f.rsa, "ec-1", claims(nil)), cause: jwt.ErrTokenUnverifiable},
		{name: "ES256 claiming the RSA key's kid", v: both, token: sign(t, jwt.SigningMethodES256, f.ec, "rsa-1", claims(nil)), cause: jwt.ErrTokenUnverifiable},
		{name: "RS256 by a key outside the JWKS", v: both, token: sign(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "ES256 by a key outside the JWKS", v: both, token: sign(t, jwt.SigningMethodES256, otherEC, "ec-1", claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "unknown kid", v: both, token: sign(t, jwt.SigningMethodRS256, f.rsa, "rsa-9", claims(nil)), cause: jwt.ErrTokenUnverifiable},
		{name: "HS256 with the wrong secret", v: both, token: sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), "", claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS384 with the right secret", v: both, token: sign(t, jwt.SigningMethodHS384, []byte(testSecret), "", claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS512 with a trusted key", v: both, token: sign(t, jwt.SigningMethodRS512, f.rsa, "rsa-1", claims(nil)), cause: jwt.ErrTokenSignatureInvalid},
		{name: "missing project claim", v: both, token: f.rs256(t, claims(map[string]any{"project_id": nil}))},
		{name: "empty project claim", v: both, token: f.rs256(t, claims(map[string]any{"project_id": ""}))},
		{name: "numeric project claim", v: both, token: f.rs256(t, claims(map[string]any{"project_id": 7}))},
		{name: "project in the default claim when another is configured", v: customClaim, token: f.rs256(t, claims(nil))},
		{name: "tampered payload", v: both, token: tamper(f.rs256(t, claims(nil))), cause: jwt.ErrTokenSignatureInvalid},
		{name: "garbage", v: both, token: "a.b.c", cause: jwt.ErrTokenMalformed},
		{name: "oversized", v: both, token: strings.Repeat("a", 9000) + ".b.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.v.Verify(context.Background(), tc.token)
			if tc.want != (auth.Principal{}) {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			if !errors.Is(err, auth.ErrInvalidJWT) {
				t.Errorf("error %v does not wrap ErrInvalidJWT", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v, want cause %v", err, tc.cause)
			}
			if code := auth.ConnectError(err).Code(); code != connect.CodeUnauthenticated {
				t.Errorf("code %v, want unauthenticated", code)
			}
		})
	}
}

// tamper rewrites the payload with another project id, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"project_id":"proj_victim","exp":9999999999,"iss":"` + testIssuer + `","aud":"` + testAudience + `"}`))
	return parts[0] + "." + payload + "." + parts[2]
}

func TestNewJWTVerifierConfig(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	ctx := context.Background()

	v, err := auth.NewJWTVerifier(ctx, auth.JWTConfig{Issuer: testIssuer})
	if v != nil || err != nil {
		t.Fatalf("no keys configured: got (%v, %v), want (nil, nil)", v, err)
	}
	if _, err := v.Verify(ctx, f.hs256(t, claims(nil))); !errors.Is(err, auth.ErrJWTDisabled) {
		t.Errorf("nil verifier: Verify = %v, want ErrJWTDisabled", err)
	}
	v.Close() // a nil verifier closes quietly

	octOnly := filepath.Join(t.TempDir(), "oct.json")
	if err := os.WriteFile(octOnly, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := f.config()
	for _, tc := range []struct {
		name string
		edit func(*auth.JWTConfig)
	}{
		{"short HS256 secret", func(c *auth.JWTConfig) { c.HS256Secret = "short" }},
		{"JWKS without issuer", func(c *auth.JWTConfig) { c.Issuer = "" }},
		{"JWKS without audience", func(c *auth.JWTConfig) { c.Audience = "" }},
		{"file and URL", func(c *auth.JWTConfig) { c.JWKSURL = "https://idp.example.test/jwks.json" }},
		{"plain http to a remote host", func(c *auth.JWTConfig) { c.JWKSFile, c.JWKSURL = "", "http://idp.example.test/jwks.json" }},
		{"missing file", func(c *auth.JWTConfig) { c.JWKSFile = filepath.Join(t.TempDir(), "absent.json") }},
		{"symmetric keys only", func(c *auth.JWTConfig) { c.JWKSFile = octOnly }},
		{"negative leeway", func(c *auth.JWTConfig) { c.Leeway = -time.Second }},
		{"hour of leeway", func(c *auth.JWTConfig) { c.Leeway = time.Hour }},
	} {
		cfg := base
		tc.edit(&cfg)
		if v, err := auth.NewJWTVerifier(ctx, cfg); err == nil {
			v.Close()
			t.Errorf("%s: NewJWTVerifier accepted the configuration", tc.name)
		}
	}
}

// TestJWKSURL: keys come from the URL once at start and on refresh, never per request, and a
// rotated key is picked up by the refresh.
func TestJWKSURL(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	rotated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		current = jwksJSON(t, map[string]any{"rsa-1": &f.rsa.PublicKey})
		fetches atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(current)
	}))
	t.Cleanup(srv.Close)

	cfg := f.config()
	cfg.HS256Secret, cfg.JWKSFile, cfg.JWKSURL = "", "", srv.URL+"/jwks.json"
	cfg.JWKSRefresh = time.Hour
	v := f.verifier(t, cfg)
	for range 20 {
		if _, err := v.Verify(context.Background(), f.rs256(t, claims(nil))); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for 20 verifications, want 1 (at start only)", n)
	}

	cfg.JWKSRefresh = 20 * time.Millisecond
	fast := f.verifier(t, cfg)
	token := sign(t, jwt.SigningMethodES256, rotated, "ec-2", claims(nil))
	if _, err := fast.Verify(context.Background(), token); err == nil {
		t.Fatal("a key not yet published verified")
	}
	mu.Lock()
	current = jwksJSON(t, map[string]any{"rsa-1": &f.rsa.PublicKey, "ec-2": &rotated.PublicKey})
	mu.Unlock()
	waitFor(t, 5*time.Second, "the rotated key to verify", func() bool {
		_, err := fast.Verify(context.Background(), token)
		return err == nil
	})
}

// TestJWKSFileReload: a JWKS file is reloaded on refresh, and a key removed from it stops
// verifying.
func TestJWKSFileReload(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	var logs logBuffer
	cfg := f.config()
	cfg.JWKSRefresh = 20 * time.Millisecond
	cfg.Logger = logs.logger()
	v := f.verifier(t, cfg)
	token := f.es256(t, claims(nil))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	writeJWKS(t, f.jwksPath, map[string]any{"rsa-1": &f.rsa.PublicKey})
	waitFor(t, 5*time.Second, "the removed key to stop verifying", func() bool {
		_, err := v.Verify(context.Background(), token)
		return err != nil
	})
	// A broken file keeps the last good keys in use.
	if err := os.WriteFile(f.jwksPath, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a failed reload to be logged", func() bool {
		return strings.Contains(logs.String(), "jwks reload failed")
	})
	if _, err := v.Verify(context.Background(), f.rs256(t, claims(nil))); err != nil {
		t.Fatalf("after a broken reload, a key that was loaded before stopped verifying: %v", err)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
