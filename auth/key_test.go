package auth_test

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	"github.com/poluruprvn/profiles/auth"
)

// wellFormed builds a token with a correct checksum from its parts, as an attacker who knows
// the format (it is documented) can: the test's own copy of the layout in key.go.
func wellFormed(prefix, idPart, secret string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	body := prefix + idPart + "_" + secret
	n := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = alphabet[n%62]
		n /= 62
	}
	return body + string(sum)
}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   auth.Kind
		prefix string
	}{{auth.KindSDK, "pk_"}, {auth.KindSecret, "sk_"}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			k, err := auth.NewKey(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(k.Token, tc.prefix) || len(k.Token) != 69 {
				t.Fatalf("token has prefix %q and length %d, want %q and 69", k.Token[:3], len(k.Token), tc.prefix)
			}
			id, kind, secret, err := auth.ParseToken(k.Token)
			if err != nil {
				t.Fatalf("ParseToken(NewKey().Token): %v", err)
			}
			got := struct {
				ID   string
				Kind auth.Kind
			}{id, kind}
			want := struct {
				ID   string
				Kind auth.Kind
			}{k.ID, tc.kind}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseToken (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(k.ID, "key_") || !strings.Contains(k.Token, strings.TrimPrefix(k.ID, "key_")+"_") {
				t.Errorf("key id %q is not the token's id part", k.ID)
			}
			if len(secret) != 43 || len(k.SecretHash) != 32 {
				t.Errorf("secret %d bytes, hash %d bytes; want 43 and 32", len(secret), len(k.SecretHash))
			}
			if strings.Contains(string(k.SecretHash), string(secret)) {
				t.Error("the stored hash contains the secret")
			}
			if !auth.VerifySecret(k.SecretHash, secret) {
				t.Error("VerifySecret refuses the key's own secret")
			}
			for _, s := range []string{k.String(), k.GoString()} {
				if strings.Contains(s, string(secret)) {
					t.Errorf("Key formats with its secret: %q", s)
				}
			}
			other, err := auth.NewKey(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if other.ID == k.ID || other.Token == k.Token {
				t.Error("two NewKey calls returned the same id or token")
			}
		})
	}
}

func TestNewKeyRefusesUnknownKind(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewKey("admin"); !errors.Is(err, auth.ErrInvalidArgument) {
		t.Fatalf("NewKey(admin) = %v, want ErrInvalidArgument", err)
	}
}

func TestParseTokenRefuses(t *testing.T) {
	t.Parallel()
	k, err := auth.NewKey(auth.KindSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.Token
	flip := func(s string, i int) string {
		c := byte('a')
		if s[i] == 'a' {
			c = 'b'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"prefix only", "sk_"},
		{"truncated", tok[:len(tok)-1]},
		{"extended", tok + "a"},
		{"unknown prefix", "xk_" + tok[3:]},
		{"prefix swapped to pk_", "pk_" + tok[3:]},
		{"id byte changed", flip(tok, 5)},
		{"secret byte changed", flip(tok, 30)},
		{"checksum byte changed", flip(tok, len(tok)-1)},
		{"separator replaced", tok[:19] + "a" + tok[20:]},
		{"non-base62 byte", tok[:30] + "-" + tok[31:]},
		{"space inside", tok[:30] + " " + tok[31:]},
		{"jwt-looking", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, _, err := auth.ParseToken(tc.token)
			if !errors.Is(err, auth.ErrMalformedKey) {
				t.Fatalf("ParseToken = %v, want ErrMalformedKey", err)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error quotes the token: %v", err)
			}
			if got := auth.ConnectError(err).Code(); got != connect.CodeUnauthenticated {
				t.Errorf("code %v, want unauthenticated", got)
			}
		})
	}
}

func TestVerifySecret(t *testing.T) {
	t.Parallel()
	k, err := auth.NewKey(auth.KindSDK)
	if err != nil {
		t.Fatal(err)
	}
	_, _, secret, err := auth.ParseToken(k.Token)
	if err != nil {
		t.Fatal(err)
	}
	wrong := append([]byte(nil), secret...)
	wrong[0] ^= 1
	for _, tc := range []struct {
		name         string
		hash, secret []byte
		want         bool
	}{
		{"right secret", k.SecretHash, secret, true},
		{"one bit off", k.SecretHash, wrong, false},
		{"empty secret", k.SecretHash, nil, false},
		{"empty hash", nil, secret, false},
		{"truncated hash", k.SecretHash[:31], secret, false},
		{"secret as its own hash", secret, secret, false},
	} {
		if got := auth.VerifySecret(tc.hash, tc.secret); got != tc.want {
			t.Errorf("%s: VerifySecret = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseToken: any input is either refused as malformed or parses into parts that rebuild
// the same token.
func FuzzParseToken(f *testing.F) {
	for _, kind := range []auth.Kind{auth.KindSDK, auth.KindSecret} {
		k, err := auth.NewKey(kind)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(k.Token)
	}
	f.Add("")
	f.Add("sk_")
	f.Fuzz(func(t *testing.T, token string) {
		id, kind, secret, err := auth.ParseToken(token)
		if err != nil {
			if !errors.Is(err, auth.ErrMalformedKey) {
				t.Fatalf("error %v is not ErrMalformedKey", err)
			}
			return
		}
		prefix := map[auth.Kind]string{auth.KindSDK: "pk_", auth.KindSecret: "sk_"}[kind]
		if rebuilt := wellFormed(prefix, strings.TrimPrefix(id, "key_"), string(secret)); rebuilt != token {
			t.Fatalf("parts rebuild %q, not %q", rebuilt, token)
		}
	})
}

// BenchmarkParseTokenVerify is the per-request cost of a key once its stored hash is cached.
func BenchmarkParseTokenVerify(b *testing.B) {
	k, err := auth.NewKey(auth.KindSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _, secret, err := auth.ParseToken(k.Token)
		if err != nil || !auth.VerifySecret(k.SecretHash, secret) {
			b.Fatal("valid key refused")
		}
	}
}

// BenchmarkParseTokenRefuse is the cost of refusing junk: no store is asked.
func BenchmarkParseTokenRefuse(b *testing.B) {
	k, err := auth.NewKey(auth.KindSecret)
	if err != nil {
		b.Fatal(err)
	}
	bad := k.Token[:40] + "x" + k.Token[41:]
	if bad == k.Token {
		bad = k.Token[:40] + "y" + k.Token[41:]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := auth.ParseToken(bad); err == nil {
			b.Fatal("tampered key accepted")
		}
	}
}
