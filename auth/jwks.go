package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
)

const (
	maxJWKSBytes    = 1 << 20
	minRSABits      = 2048
	maxUnknownKIDHz = time.Minute // at most one early reload per minute for unknown key ids
)

// jwksSource holds the verification keys of a JWKS file or URL and reloads them in the
// background. Requests only ever read the current set: nothing is fetched on a request's path.
type jwksSource struct {
	load    func(ctx context.Context) ([]byte, error)
	where   string // for logs: the file, or the URL without query or credentials
	every   time.Duration
	minKick time.Duration
	logger  *slog.Logger

	keys   atomic.Pointer[keySet]
	kicks  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

type keySet struct {
	byKID map[string]verifyKey
	all   []verifyKey
}

type verifyKey struct {
	kid string
	alg string // "RS256" or "ES256": the only algorithm this key verifies
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

func newJWKSSource(ctx context.Context, cfg JWTConfig) (*jwksSource, error) {
	s := &jwksSource{
		every:  cfg.JWKSRefresh,
		logger: cfg.Logger,
		kicks:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if s.every <= 0 {
		s.every = DefaultJWKSRefresh
	}
	s.minKick = min(maxUnknownKIDHz, s.every)
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if cfg.JWKSFile != "" {
		path := cfg.JWKSFile
		s.where = path
		s.load = func(context.Context) ([]byte, error) { return readLimited(os.Open(path)) }
	} else {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || u.Host == "" {
			return nil, errors.New("jwt: the JWKS URL does not parse")
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			return nil, errors.New("jwt: the JWKS URL must use https (http only to a loopback host)")
		}
		s.where = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		s.load = func(ctx context.Context) ([]byte, error) { return fetch(ctx, client, u.String()) }
	}
	if err := s.refresh(ctx); err != nil {
		return nil, fmt.Errorf("jwt: load JWKS from %s: %w", s.where, err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.run(loopCtx)
	return s, nil
}

// key returns the key that verifies alg for kid. A token without kid is accepted only when the
// set holds exactly one key for alg.
func (s *jwksSource) key(kid, alg string) (any, error) {
	set := s.keys.Load()
	if kid == "" {
		var found []verifyKey
		for _, k := range set.all {
			if k.alg == alg {
				found = append(found, k)
			}
		}
		if len(found) != 1 {
			return nil, errors.New("token has no kid and the JWKS has no single key for its algorithm")
		}
		return found[0].key, nil
	}
	k, ok := set.byKID[kid]
	if !ok {
		s.kick()
		return nil, errors.New("token kid is not in the JWKS")
	}
	if k.alg != alg {
		return nil, fmt.Errorf("JWKS key verifies %s, token says %s", k.alg, alg)
	}
	return k.key, nil
}

// kick asks for an early reload without waiting; the loop rate-limits them.
func (s *jwksSource) kick() {
	select {
	case s.kicks <- struct{}{}:
	default:
	}
}

func (s *jwksSource) run(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.every)
	defer ticker.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.kicks:
			if time.Since(last) < s.minKick {
				continue
			}
		}
		last = time.Now()
		if err := s.refresh(ctx); err != nil && ctx.Err() == nil {
			// The keys loaded last stay in use: an identity provider's outage must not log
			// everyone out.
			s.logger.WarnContext(ctx, "jwks reload failed; keeping the previous keys", "source", s.where, "error", err)
		}
	}
}

func (s *jwksSource) close() {
	s.cancel()
	<-s.done
}

func (s *jwksSource) refresh(ctx context.Context) error {
	data, err := s.load(ctx)
	if err != nil {
		return err
	}
	set, err := parseJWKS(data)
	if err != nil {
		return err
	}
	s.keys.Store(set)
	return nil
}

// parseJWKS keeps the set's public signature keys that this package accepts: RSA of 2048 bits
// or more (RS256) and P-256 (ES256). Symmetric, encryption, other-curve and malformed keys are
// skipped, not fatal, so one odd key from a provider does not disable the rest; a set with no
// usable key is an error. Private key material in the set is ignored.
func parseJWKS(data []byte) (*keySet, error) {
	var raw jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	set := &keySet{byKID: map[string]verifyKey{}}
	for _, m := range raw.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		var alg string
		switch k := jwk.Key().(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < minRSABits {
				continue
			}
			alg = "RS256"
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				continue
			}
			alg = "ES256"
		default:
			continue
		}
		if m.ALG != "" && string(m.ALG) != alg {
			continue
		}
		vk := verifyKey{kid: m.KID, alg: alg, key: jwk.Key()}
		if vk.kid != "" {
			if _, dup := set.byKID[vk.kid]; dup {
				continue
			}
			set.byKID[vk.kid] = vk
		}
		set.all = append(set.all, vk)
	}
	if len(set.all) == 0 {
		return nil, errors.New("the JWKS holds no RS256 or ES256 public key")
	}
	return set, nil
}

func fetch(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// url.Error quotes the URL, which may carry credentials: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetch: status %d", resp.StatusCode)
	}
	return readLimited(resp.Body, nil)
}

func readLimited(r io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	return data, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
