package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash/crc32"
	"log/slog"
)

// Kind is what an API key may do.
type Kind string

const (
	// KindSDK is a publishable key: it may sit in a web page or an app, and only reaches the SDK
	// services (identify, alias, track) of its project. Its tokens start with "pk_".
	KindSDK Kind = "sdk"
	// KindSecret is a server-side key: it reaches ProfilesService (read, edit, delete) and, for
	// server-side SDKs, the SDK services. Its tokens start with "sk_".
	KindSecret Kind = "secret"
)

// ParseKind accepts "sdk" or "secret".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindSDK, KindSecret:
		return k, nil
	}
	return "", fmt.Errorf("%w: key kind must be %q or %q", ErrInvalidArgument, KindSDK, KindSecret)
}

func (k Kind) prefix() string {
	if k == KindSDK {
		return "pk_"
	}
	return "sk_"
}

// Token layout, fixed width so that parsing needs no search (69 bytes):
//
//	sk_ 4fJ2kQ9xYb7LmN0p _ <43 base62: 256 random bits> <6 base62: CRC32>
//	prefix  key id part     secret                         checksum of everything before it
//
// The checksum covers the prefix too, so a key whose type prefix was edited is refused. It is a
// typo and junk filter that saves a database round trip, not a security boundary: the secret is.
const (
	idLen       = 16 // 95 bits: unique without a retry loop
	secretLen   = 43 // 43 * log2(62) = 256 bits
	checksumLen = 6  // 62^6 > 2^32
	prefixLen   = 3
	tokenLen    = prefixLen + idLen + 1 + secretLen + checksumLen
	keyIDPrefix = "key_"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Key is a freshly made API key. Token is shown to its owner once and never stored: only
// SecretHash is. String and LogValue leave the token out, so a Key printed or logged by mistake
// does not leak it.
type Key struct {
	ID         string // "key_" + the id part of the token; public, shown in listings
	ProjectID  string // set by Manager
	Kind       Kind
	Name       string // set by Manager
	Token      string // the whole bearer token; secret
	SecretHash []byte // SHA-256 of the token's secret part
}

// String describes the key without its token.
func (k Key) String() string { return fmt.Sprintf("%s key %s (project %s)", k.Kind, k.ID, k.ProjectID) }

// GoString describes the key without its token, for %#v.
func (k Key) GoString() string { return "auth.Key{" + k.String() + "}" }

// LogValue logs the key without its token.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("kind", string(k.Kind)),
		slog.String("project_id", k.ProjectID))
}

// NewKey makes a key of the given kind with a random id and a 256-bit random secret.
func NewKey(kind Kind) (Key, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return Key{}, err
	}
	idPart, err := randomBase62(idLen)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomBase62(secretLen)
	if err != nil {
		return Key{}, err
	}
	body := kind.prefix() + idPart + "_" + secret
	return Key{
		ID:         keyIDPrefix + idPart,
		Kind:       kind,
		Token:      body + checksum(body),
		SecretHash: HashSecret([]byte(secret)),
	}, nil
}

// ParseToken splits a key token into its id, kind and secret part, refusing (ErrMalformedKey)
// anything of the wrong length, alphabet, prefix or checksum without any store being asked.
// Errors never quote the token.
func ParseToken(token string) (id string, kind Kind, secret []byte, err error) {
	if len(token) != tokenLen {
		return "", "", nil, fmt.Errorf("%w: length %d, want %d", ErrMalformedKey, len(token), tokenLen)
	}
	switch token[:prefixLen] {
	case "pk_":
		kind = KindSDK
	case "sk_":
		kind = KindSecret
	default:
		return "", "", nil, fmt.Errorf("%w: unknown type prefix", ErrMalformedKey)
	}
	sep := prefixLen + idLen
	if token[sep] != '_' {
		return "", "", nil, fmt.Errorf("%w: no separator after the key id", ErrMalformedKey)
	}
	for i := prefixLen; i < len(token); i++ {
		if i != sep && !isBase62(token[i]) {
			return "", "", nil, fmt.Errorf("%w: byte %d is outside the key alphabet", ErrMalformedKey, i)
		}
	}
	body, sum := token[:tokenLen-checksumLen], token[tokenLen-checksumLen:]
	if checksum(body) != sum {
		return "", "", nil, fmt.Errorf("%w: checksum mismatch", ErrMalformedKey)
	}
	return keyIDPrefix + token[prefixLen:sep], kind, []byte(token[sep+1 : tokenLen-checksumLen]), nil
}

// HashSecret is what the store keeps of a key. A fast hash is right here: the secret is 256
// random bits, so there is nothing for a slow hash to protect against guessing.
func HashSecret(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

// VerifySecret reports whether secret hashes to storedHash, in time independent of where they
// differ.
func VerifySecret(storedHash, secret []byte) bool {
	got := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(got[:], storedHash) == 1
}

func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// randomBase62 draws n uniform base62 characters from crypto/rand (rejection sampling: bytes
// >= 248 would bias the modulo and are dropped).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}
