package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/poluruprvn/profiles/auth"
)

const (
	testIssuer   = "https://idp.example.test/"
	testAudience = "profiles-api"
	testSecret   = "an-hs256-secret-of-at-least-32-bytes!"
	testProject  = "proj_fromjwt"
)

// signingKeys are generated once per test binary: RSA key generation costs tens of ms.
var signingKeys = sync.OnceValues(func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return rsaKey, ecKey
})

// jwtFixture signs test tokens for a verifier that trusts testSecret (HS256) and a JWKS file
// holding the RSA key as "rsa-1" and the EC key as "ec-1".
type jwtFixture struct {
	rsa      *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	jwksPath string
}

func newJWTFixture(t *testing.T) jwtFixture {
	t.Helper()
	rsaKey, ecKey := signingKeys()
	f := jwtFixture{rsa: rsaKey, ec: ecKey, jwksPath: filepath.Join(t.TempDir(), "jwks.json")}
	writeJWKS(t, f.jwksPath, map[string]any{"rsa-1": &rsaKey.PublicKey, "ec-1": &ecKey.PublicKey})
	return f
}

// config is the verifier configuration every JWT test starts from.
func (f jwtFixture) config() auth.JWTConfig {
	return auth.JWTConfig{
		HS256Secret: testSecret,
		JWKSFile:    f.jwksPath,
		Issuer:      testIssuer,
		Audience:    testAudience,
	}
}

func (f jwtFixture) verifier(t *testing.T, cfg auth.JWTConfig) *auth.JWTVerifier {
	t.Helper()
	v, err := auth.NewJWTVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	if v == nil {
		t.Fatal("NewJWTVerifier returned no verifier for a configuration with keys")
	}
	t.Cleanup(v.Close)
	return v
}

// claims returns valid claims for testProject, with edits applied (a nil value deletes).
func claims(edits map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":        testIssuer,
		"aud":        testAudience,
		"sub":        "user-42",
		"iat":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
		"project_id": testProject,
	}
	maps.Copy(c, edits)
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		}
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func (f jwtFixture) hs256(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", c)
}

func (f jwtFixture) rs256(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodRS256, f.rsa, "rsa-1", c)
}

func (f jwtFixture) es256(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodES256, f.ec, "ec-1", c)
}

// none is an unsigned token (alg "none").
func (f jwtFixture) none(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c)
}

// confused is the classic algorithm-confusion forgery: an HS256 token whose HMAC secret is the
// RSA public key's PEM, which an attacker can read from the JWKS.
func (f jwtFixture) confused(t *testing.T, c jwt.MapClaims) string {
	der, err := x509.MarshalPKIXPublicKey(&f.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return sign(t, jwt.SigningMethodHS256, pemBytes, "rsa-1", c)
}

func writeJWKS(t *testing.T, path string, keys map[string]any) {
	t.Helper()
	data := jwksJSON(t, keys)
	// Write then rename, so a reload never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func jwksJSON(t *testing.T, keys map[string]any) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, key := range keys {
		alg := jwkset.AlgRS256
		if _, ok := key.(*ecdsa.PublicKey); ok {
			alg = jwkset.AlgES256
		}
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatalf("jwk %s: %v", kid, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
