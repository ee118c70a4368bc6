package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

const (
	codeOK            connect.Code = 0
	testCacheTTL                   = 50 * time.Millisecond
	watchProcedure                 = "/profiles.v1.ProfilesService/Watch" // a streaming test-only RPC
	otherProcedure                 = "/other.v1.OtherService/Do"          // a service with no policy
	principalHeader                = "X-Test-Principal"
	wantUnauthMessage              = "missing or invalid credentials"
)

// env is a real HTTP server with the three services mounted behind the Authenticator, keys in
// a fresh Postgres database, and clients for each service.
type env struct {
	pool     *pgxpool.Pool
	mgr      *auth.Manager
	jwt      jwtFixture
	logs     *logBuffer
	srv      *httptest.Server
	profiles profilesv1connect.ProfilesServiceClient
	sdk      profilesv1connect.ProfilesSDKServiceClient
	events   eventsv1connect.EventsSDKServiceClient
	watch    *connect.Client[emptypb.Empty, emptypb.Empty]
	other    *connect.Client[emptypb.Empty, emptypb.Empty]

	projA, projB  auth.Project
	sdkA, secretA auth.Key
	sdkB, secretB auth.Key
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{pool: pgtest.New(t), jwt: newJWTFixture(t), logs: &logBuffer{}}
	store := postgres.NewProjectStore(e.pool)
	e.mgr = auth.NewManager(store)
	var err error
	if e.projA, e.sdkA, e.secretA, err = e.mgr.CreateProject(ctx, "Project A"); err != nil {
		t.Fatalf("CreateProject A: %v", err)
	}
	if e.projB, e.sdkB, e.secretB, err = e.mgr.CreateProject(ctx, "Project B"); err != nil {
		t.Fatalf("CreateProject B: %v", err)
	}

	a := auth.NewAuthenticator(
		auth.NewKeyCache(store, auth.CacheConfig{TTL: testCacheTTL}),
		e.jwt.verifier(t, e.jwt.config()),
		e.logs.logger(),
	)
	intercept := connect.WithInterceptors(a.Interceptor())
	mux := http.NewServeMux()
	mux.Handle(profilesv1connect.NewProfilesServiceHandler(principalEcho{}, intercept))
	mux.Handle(profilesv1connect.NewProfilesSDKServiceHandler(profilesv1connect.UnimplementedProfilesSDKServiceHandler{}, intercept))
	mux.Handle(eventsv1connect.NewEventsSDKServiceHandler(eventsv1connect.UnimplementedEventsSDKServiceHandler{}, intercept))
	mux.Handle(watchProcedure, connect.NewServerStreamHandler(watchProcedure, watch, intercept))
	mux.Handle(otherProcedure, connect.NewUnaryHandler(otherProcedure,
		func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, intercept))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	hc, url := e.srv.Client(), e.srv.URL
	e.profiles = profilesv1connect.NewProfilesServiceClient(hc, url)
	e.sdk = profilesv1connect.NewProfilesSDKServiceClient(hc, url)
	e.events = eventsv1connect.NewEventsSDKServiceClient(hc, url)
	e.watch = connect.NewClient[emptypb.Empty, emptypb.Empty](hc, url+watchProcedure)
	e.other = connect.NewClient[emptypb.Empty, emptypb.Empty](hc, url+otherProcedure)
	return e
}

// principalEcho is ProfilesService with Get answering the principal it was given.
type principalEcho struct {
	profilesv1connect.UnimplementedProfilesServiceHandler
}

func (principalEcho) Get(ctx context.Context, _ *connect.Request[profilesv1.GetRequest]) (*connect.Response[profilesv1.GetResponse], error) {
	resp := connect.NewResponse(&profilesv1.GetResponse{})
	resp.Header().Set(principalHeader, describe(ctx))
	return resp, nil
}

func watch(ctx context.Context, _ *connect.Request[emptypb.Empty], stream *connect.ServerStream[emptypb.Empty]) error {
	stream.ResponseHeader().Set(principalHeader, describe(ctx))
	return stream.Send(&emptypb.Empty{})
}

func describe(ctx context.Context) string {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return "none"
	}
	return strings.Join([]string{p.ProjectID, string(p.Via), p.KeyID, p.Subject}, "|")
}

// authz sets Authorization headers on a request: none, one, or several.
func authz[T any](msg *T, values []string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	for _, v := range values {
		req.Header().Add("Authorization", v)
	}
	return req
}

func bearer(token string) []string { return []string{"Bearer " + token} }

type caller func(ctx context.Context, e *env, values []string) error

func callGet(ctx context.Context, e *env, v []string) error {
	_, err := e.profiles.Get(ctx, authz(&profilesv1.GetRequest{}, v))
	return err
}

func callList(ctx context.Context, e *env, v []string) error {
	_, err := e.profiles.List(ctx, authz(&profilesv1.ListRequest{}, v))
	return err
}

func callIdentify(ctx context.Context, e *env, v []string) error {
	_, err := e.sdk.Identify(ctx, authz(&profilesv1.IdentifyRequest{}, v))
	return err
}

func callTrack(ctx context.Context, e *env, v []string) error {
	_, err := e.events.Track(ctx, authz(&eventsv1.TrackRequest{}, v))
	return err
}

func callWatch(ctx context.Context, e *env, v []string) error {
	stream, err := e.watch.CallServerStream(ctx, authz(&emptypb.Empty{}, v))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
	}
	return stream.Err()
}

func callOther(ctx context.Context, e *env, v []string) error {
	_, err := e.other.CallUnary(ctx, authz(&emptypb.Empty{}, v))
	return err
}

// idPart and secretPart cut a token along the documented layout.
func idPart(tok string) string     { return tok[3:19] }
func secretPart(tok string) string { return tok[20:63] }

func TestInterceptorMatrix(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.jwt
	unknown, err := auth.NewKey(auth.KindSecret) // well formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(e.secretA.Token) // one secret byte changed: the checksum no longer matches
	tampered[30] = map[bool]byte{true: 'a', false: 'b'}[tampered[30] != 'a']
	wrongSecret := wellFormed("sk_", idPart(e.secretA.Token), secretPart(unknown.Token))
	// A publishable key's id and secret presented as a secret key: the checksum is right, the
	// stored kind is not. This is the escalation a pk_ -> sk_ edit would attempt.
	promoted := wellFormed("sk_", idPart(e.sdkA.Token), secretPart(e.sdkA.Token))
	valid := claims(nil)

	for _, tc := range []struct {
		name  string
		call  caller
		authz []string
		want  connect.Code
	}{
		// ProfilesService: secret key or JWT.
		{"profiles: no header", callList, nil, connect.CodeUnauthenticated},
		{"profiles: basic scheme", callList, []string{"Basic " + e.secretA.Token}, connect.CodeUnauthenticated},
		{"profiles: empty bearer", callList, []string{"Bearer "}, connect.CodeUnauthenticated},
		{"profiles: two headers", callList, append(bearer(e.secretA.Token), bearer(e.secretB.Token)...), connect.CodeUnauthenticated},
		{"profiles: malformed key", callList, bearer("sk_nope"), connect.CodeUnauthenticated},
		{"profiles: neither key nor jwt", callList, bearer("hunter2"), connect.CodeUnauthenticated},
		{"profiles: tampered key", callList, bearer(string(tampered)), connect.CodeUnauthenticated},
		{"profiles: unknown key", callList, bearer(unknown.Token), connect.CodeUnauthenticated},
		{"profiles: wrong secret for a real key id", callList, bearer(wrongSecret), connect.CodeUnauthenticated},
		{"profiles: sdk key promoted to sk_", callList, bearer(promoted), connect.CodeUnauthenticated},
		{"profiles: sdk key", callList, bearer(e.sdkA.Token), connect.CodePermissionDenied},
		{"profiles: secret key", callList, bearer(e.secretA.Token), connect.CodeUnimplemented},
		{"profiles: secret key, lower-case scheme", callList, []string{"bearer " + e.secretB.Token}, connect.CodeUnimplemented},
		{"profiles: jwt HS256", callList, bearer(f.hs256(t, valid)), connect.CodeUnimplemented},
		{"profiles: jwt RS256", callList, bearer(f.rs256(t, valid)), connect.CodeUnimplemented},
		{"profiles: jwt ES256", callList, bearer(f.es256(t, valid)), connect.CodeUnimplemented},
		{"profiles: jwt expired", callList, bearer(f.rs256(t, claims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}))), connect.CodeUnauthenticated},
		{"profiles: jwt not yet valid", callList, bearer(f.rs256(t, claims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))), connect.CodeUnauthenticated},
		{"profiles: jwt wrong issuer", callList, bearer(f.es256(t, claims(map[string]any{"iss": "https://evil.test/"}))), connect.CodeUnauthenticated},
		{"profiles: jwt wrong audience", callList, bearer(f.hs256(t, claims(map[string]any{"aud": "other"}))), connect.CodeUnauthenticated},
		{"profiles: jwt without exp", callList, bearer(f.hs256(t, claims(map[string]any{"exp": nil}))), connect.CodeUnauthenticated},
		{"profiles: jwt alg none", callList, bearer(f.none(t, valid)), connect.CodeUnauthenticated},
		{"profiles: jwt HS/RS confusion", callList, bearer(f.confused(t, valid)), connect.CodeUnauthenticated},
		{"profiles: jwt without project", callList, bearer(f.rs256(t, claims(map[string]any{"project_id": nil}))), connect.CodeUnauthenticated},
		{"profiles: jwt garbage", callList, bearer("x.y.z"), connect.CodeUnauthenticated},
		{"profiles stream: no header", callWatch, nil, connect.CodeUnauthenticated},
		{"profiles stream: sdk key", callWatch, bearer(e.sdkB.Token), connect.CodePermissionDenied},
		{"profiles stream: secret key", callWatch, bearer(e.secretB.Token), codeOK},

		// SDK services: SDK key or secret key.
		{"identify: no header", callIdentify, nil, connect.CodeUnauthenticated},
		{"identify: malformed key", callIdentify, bearer("pk_" + strings.Repeat("a", 66)), connect.CodeUnauthenticated},
		{"identify: unknown key", callIdentify, bearer(wellFormed("pk_", idPart(unknown.Token), secretPart(unknown.Token))), connect.CodeUnauthenticated},
		{"identify: sdk key", callIdentify, bearer(e.sdkA.Token), connect.CodeUnimplemented},
		{"identify: secret key", callIdentify, bearer(e.secretA.Token), connect.CodeUnimplemented},
		{"identify: jwt", callIdentify, bearer(f.hs256(t, valid)), connect.CodePermissionDenied},
		{"identify: expired jwt", callIdentify, bearer(f.hs256(t, claims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}))), connect.CodeUnauthenticated},
		{"track: no header", callTrack, nil, connect.CodeUnauthenticated},
		{"track: sdk key", callTrack, bearer(e.sdkB.Token), connect.CodeUnimplemented},
		{"track: secret key", callTrack, bearer(e.secretB.Token), connect.CodeUnimplemented},
		{"track: jwt", callTrack, bearer(f.rs256(t, valid)), connect.CodePermissionDenied},
		{"track: tampered key", callTrack, bearer(string(tampered)), connect.CodeUnauthenticated},

		// A service without a policy is refused to every credential.
		{"other: no header", callOther, nil, connect.CodeUnauthenticated},
		{"other: secret key", callOther, bearer(e.secretA.Token), connect.CodePermissionDenied},
		{"other: sdk key", callOther, bearer(e.sdkA.Token), connect.CodePermissionDenied},
		{"other: jwt", callOther, bearer(f.hs256(t, valid)), connect.CodePermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(context.Background(), e, tc.authz)
			if tc.want == codeOK {
				if err != nil {
					t.Fatalf("call failed: %v", err)
				}
				return
			}
			if got := connect.CodeOf(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			// Every refusal of a class reads the same, whatever the cause.
			var cerr *connect.Error
			if errors.As(err, &cerr) && tc.want == connect.CodeUnauthenticated && cerr.Message() != wantUnauthMessage {
				t.Errorf("message %q, want the generic %q", cerr.Message(), wantUnauthMessage)
			}
		})
	}
}

// TestInterceptorRevokedKey: a revoked key stops working once the cache TTL has passed.
func TestInterceptorRevokedKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	k, err := e.mgr.CreateKey(ctx, e.projA.ID, auth.KindSecret, "to revoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := callList(ctx, e, bearer(k.Token)); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("new key: %v, want to reach the handler", err)
	}
	if err := e.mgr.RevokeKey(ctx, e.projA.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	var last error
	waitFor(t, 5*time.Second, "the revoked key to be refused", func() bool {
		last = callList(ctx, e, bearer(k.Token))
		return connect.CodeOf(last) == connect.CodeUnauthenticated
	})
	t.Logf("revoked key refused %s after revocation (cache TTL %s)", time.Since(revokedAt).Round(time.Millisecond), testCacheTTL)
	var cerr *connect.Error
	if !errors.As(last, &cerr) || cerr.Message() != wantUnauthMessage {
		t.Errorf("revoked key: %v, want the generic unauthenticated message", last)
	}
	// The project's other keys are untouched.
	if err := callList(ctx, e, bearer(e.secretA.Token)); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("another key of the project: %v, want to reach the handler", err)
	}
}

// TestHandlerSeesPrincipal: the handler gets the caller's own project, and nothing else.
func TestHandlerSeesPrincipal(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"secret key of A", e.secretA.Token, e.projA.ID + "|secret_key|" + e.secretA.ID + "|"},
		{"secret key of B", e.secretB.Token, e.projB.ID + "|secret_key|" + e.secretB.ID + "|"},
		{"jwt", e.jwt.rs256(t, claims(nil)), testProject + "|jwt||user-42"},
	} {
		resp, err := e.profiles.Get(ctx, authz(&profilesv1.GetRequest{}, bearer(tc.token)))
		if err != nil {
			t.Fatalf("%s: Get: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, resp.Header().Get(principalHeader)); diff != "" {
			t.Errorf("%s: principal (-want +got):\n%s", tc.name, diff)
		}
	}

	stream, err := e.watch.CallServerStream(ctx, authz(&emptypb.Empty{}, bearer(e.secretB.Token)))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for stream.Receive() {
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if diff := cmp.Diff(e.projB.ID+"|secret_key|"+e.secretB.ID+"|", stream.ResponseHeader().Get(principalHeader)); diff != "" {
		t.Errorf("streaming principal (-want +got):\n%s", diff)
	}
}

// TestInterceptorNeverLogsTokens: refusals are logged with their cause and key id, never with
// a token or a secret.
func TestInterceptorNeverLogsTokens(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	expired := e.jwt.hs256(t, claims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}))
	wrong := wellFormed("sk_", idPart(e.secretA.Token), secretPart(e.secretB.Token))
	tokens := []string{e.sdkA.Token, e.secretA.Token, wrong, expired, e.sdkB.Token}
	for _, c := range []struct {
		call  caller
		token string
	}{
		{callList, e.sdkA.Token},     // permission denied
		{callList, wrong},            // wrong secret
		{callList, expired},          // expired jwt
		{callTrack, expired},         // jwt on an sdk service
		{callIdentify, e.sdkB.Token}, // accepted
		{callList, e.secretA.Token},  // accepted
	} {
		_ = c.call(ctx, e, bearer(c.token))
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "request refused"); n != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", n, logs)
	}
	for _, tok := range tokens {
		for _, part := range []string{tok, secretPartOf(tok)} {
			if strings.Contains(logs, part) {
				t.Errorf("logs contain a token or secret %.12q...:\n%s", part, logs)
			}
		}
	}
	if !strings.Contains(logs, e.sdkA.ID) {
		t.Errorf("the refusal of %s does not name its key id:\n%s", e.sdkA.ID, logs)
	}
}

// secretPartOf is the secret of a key token, or the signature of a JWT.
func secretPartOf(tok string) string {
	if i := strings.LastIndexByte(tok, '.'); i >= 0 {
		return tok[i+1:]
	}
	return secretPart(tok)
}

// TestInterceptorStoreDown: when the key store cannot answer, the call is unavailable (not
// unauthenticated: the key may be fine) and says nothing more.
func TestInterceptorStoreDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.pool.Close()
	err := callList(context.Background(), e, bearer(e.secretB.Token))
	if got := connect.CodeOf(err); got != connect.CodeUnavailable {
		t.Fatalf("code %v (%v), want unavailable", got, err)
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) && strings.Contains(cerr.Message(), "pool") {
		t.Errorf("the client sees the store's error: %q", cerr.Message())
	}
	if !strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a store failure is not logged at error:\n%s", e.logs.String())
	}
}

// BenchmarkAuthenticateCachedKey is the interceptor's cost per request for a cached key.
func BenchmarkAuthenticateCachedKey(b *testing.B) {
	k, err := auth.NewKey(auth.KindSecret)
	if err != nil {
		b.Fatal(err)
	}
	store := mapStore{k.ID: {ID: k.ID, ProjectID: "proj_bench", Kind: k.Kind, SecretHash: k.SecretHash}}
	a := auth.NewAuthenticator(auth.NewKeyCache(store, auth.CacheConfig{TTL: time.Hour}), nil, nil)
	h := http.Header{"Authorization": bearer(k.Token)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// mapStore is a KeyStore for benchmarks that must not measure a database.
type mapStore map[string]auth.StoredKey

func (m mapStore) LookupKey(_ context.Context, id string) (auth.StoredKey, error) {
	k, ok := m[id]
	if !ok {
		return auth.StoredKey{}, auth.ErrKeyNotFound
	}
	return k, nil
}
