package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/go-chi/chi/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/poluruprvn/profiles/db/postgres"
	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

func TestServeHealthAndReady(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_JWT_HS256_SECRET"] = "this-is-the-jwt-secret-of-the-serve-test"
	srv := startServe(t, env, hooks{})
	client := httpClient(t)

	if code, body := get(t, client, srv.base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s, want 200", code, body)
	}
	code, body := get(t, client, srv.base+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"clickhouse":"ok"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("/readyz = %d %s, want 200 with both checks ok", code, body)
	}
	if code, _ := get(t, client, srv.base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
	_, _ = profilesv1connect.NewProfilesServiceClient(client, srv.base).Get(context.Background(), connect.NewRequest(&profilesv1.GetRequest{}))
	code, body = get(t, client, srv.base+"/metrics")
	for _, want := range []string{
		`profiles_http_requests_total{code="200",route="/readyz"} 1`,
		`profiles_http_requests_total{code="404",route="other"} 1`,
		`profiles_http_requests_total{code="unauthenticated",route="/profiles.v1.ProfilesService/Get"} 1`,
		"go_goroutines",
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	// The configuration is logged at start, secrets redacted.
	logs := srv.logs.String()
	if !strings.Contains(logs, `"jwt_hs256_secret":"[redacted]"`) || strings.Contains(logs, env["PROFILES_JWT_HS256_SECRET"]) {
		t.Errorf("start-up log should carry the config with the JWT secret redacted:\n%s", logs)
	}
}

// TestServeNeedsMigratedDatabases pins the fail-fast start: serve on an unmigrated database
// says to run migrate.
func TestServeNeedsMigratedDatabases(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_CLICKHOUSE_URL"] = freshClickHouseURL(t)
	r := runCLI(t, env, "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "PROFILES_CLICKHOUSE_URL") {
		t.Errorf("serve on a missing ClickHouse database: exit %d, stderr:\n%s\nwant 1 naming PROFILES_CLICKHOUSE_URL", r.code, r.stderr)
	}
}

// TestAccessLog pins one log line per request with the request id (the caller's, when well
// formed), procedure and code, and never the Authorization header.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	srv := startServe(t, env, hooks{})
	token := "sk_" + strings.Repeat("A", 16) + "_" + strings.Repeat("b", 49)
	req, _ := http.NewRequest(http.MethodPost, srv.base+profilesv1connect.ProfilesServiceGetProcedure, strings.NewReader(`{"externalId":"user-1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-Id", "test-request-42")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Request-Id") != "test-request-42" {
		t.Errorf("response %d with X-Request-Id %q, want 401 echoing test-request-42", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}

	var line map[string]any
	waitFor(t, "the access log line", 5*time.Second, func() bool {
		for l := range strings.SplitSeq(srv.logs.String(), "\n") {
			if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request" && line["request_id"] == "test-request-42" {
				return true
			}
		}
		return false
	})
	want := map[string]any{
		"method": "POST", "status": float64(401), "code": "unauthenticated",
		"procedure": profilesv1connect.ProfilesServiceGetProcedure,
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	logs := srv.logs.String()
	if strings.Contains(logs, token) || strings.Contains(logs, "user-1") {
		t.Errorf("logs carry the token or the request body:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"request refused"`) || !strings.Contains(logs, `"request_id":"test-request-42"`) {
		t.Errorf("the auth refusal should be logged with the request id:\n%s", logs)
	}
}

// TestUnauthenticated calls every service without credentials, over Connect, gRPC (h2c) and
// gRPC-Web: each answers unauthenticated before any handler runs.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	srv := startServe(t, testEnv(t), hooks{})
	ctx := context.Background()
	transports := []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{"connect+json", httpClient(t), []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect+proto", httpClient(t), nil},
		{"grpc", h2cClient(t), []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", httpClient(t), []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, tr := range transports {
		calls := map[string]func() error{
			"ProfilesSDKService.Identify": func() error {
				_, err := profilesv1connect.NewProfilesSDKServiceClient(tr.client, srv.base, tr.opts...).
					Identify(ctx, connect.NewRequest(&profilesv1.IdentifyRequest{}))
				return err
			},
			"ProfilesService.Get": func() error {
				_, err := profilesv1connect.NewProfilesServiceClient(tr.client, srv.base, tr.opts...).
					Get(ctx, connect.NewRequest(&profilesv1.GetRequest{}))
				return err
			},
			"EventsSDKService.Track": func() error {
				_, err := eventsv1connect.NewEventsSDKServiceClient(tr.client, srv.base, tr.opts...).
					Track(ctx, connect.NewRequest(&eventsv1.TrackRequest{}))
				return err
			},
		}
		for name, call := range calls {
			if err := call(); connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("%s over %s without credentials: %v, want unauthenticated", name, tr.name, err)
			}
		}
	}
}

func TestRequestSizeLimit(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_MAX_REQUEST_BYTES"] = "1024"
	srv := startServe(t, env, hooks{})
	body := fmt.Sprintf(`{"externalId":%q}`, strings.Repeat("x", 4096))
	req, _ := http.NewRequest(http.MethodPost, srv.base+profilesv1connect.ProfilesSDKServiceIdentifyProcedure, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(got), `"code":"resource_exhausted"`) {
		t.Errorf("a 4 KiB request with a 1 KiB limit: %d %s, want resource_exhausted", resp.StatusCode, got)
	}

	// gRPC too, through the generated client.
	client := profilesv1connect.NewProfilesSDKServiceClient(h2cClient(t), srv.base, connect.WithGRPC())
	_, err = client.Identify(context.Background(), connect.NewRequest(&profilesv1.IdentifyRequest{ExternalId: strings.Repeat("x", 4096)}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("a 4 KiB gRPC request with a 1 KiB limit: %v, want resource_exhausted", err)
	}
}

// preflight sends a browser's CORS preflight for a POST with Connect's and our headers.
func preflight(t *testing.T, base, path, origin, requestHeaders string) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, base+path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", requestHeaders)
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header
}

func TestCORS(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_CORS_ORIGINS"] = "https://app.example,https://other.example"
	srv := startServe(t, env, hooks{})
	const origin = "https://app.example"

	for _, path := range []string{
		profilesv1connect.ProfilesSDKServiceIdentifyProcedure,
		profilesv1connect.ProfilesSDKServiceAliasProcedure,
		eventsv1connect.EventsSDKServiceTrackProcedure,
	} {
		// The order the brief's clients use and the sorted order browsers send.
		for _, headers := range []string{
			"content-type,connect-protocol-version,authorization",
			"authorization,connect-protocol-version,content-type",
		} {
			h := preflight(t, srv.base, path, origin, headers)
			if h.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("preflight %s: Allow-Origin %q, want %q", path, h.Get("Access-Control-Allow-Origin"), origin)
			}
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
				t.Errorf("preflight %s: Allow-Methods %q, want POST", path, h.Get("Access-Control-Allow-Methods"))
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"content-type", "connect-protocol-version", "authorization"} {
				if !strings.Contains(allowed, want) {
					t.Errorf("preflight %s (%s): Allow-Headers %q lacks %s", path, headers, allowed, want)
				}
			}
		}
	}
	// An origin not configured, and the server-side ProfilesService, get no CORS grant.
	if h := preflight(t, srv.base, profilesv1connect.ProfilesSDKServiceIdentifyProcedure, "https://evil.example", "content-type"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unlisted origin was granted: %v", h)
	}
	if h := preflight(t, srv.base, profilesv1connect.ProfilesServiceGetProcedure, origin, "content-type"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight for ProfilesService was granted: %v", h)
	}

	// The actual cross-origin call carries the grant, and exposes the headers a client reads.
	req, _ := http.NewRequest(http.MethodPost, srv.base+profilesv1connect.ProfilesSDKServiceIdentifyProcedure, strings.NewReader(`{}`))
	req.Header.Set("Origin", origin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Grpc-Status") {
		t.Errorf("cross-origin POST: headers %v, want Allow-Origin %s and exposed gRPC-Web headers", resp.Header, origin)
	}
}

func TestGRPCHealthAndReflection(t *testing.T) {
	t.Parallel()
	srv := startServe(t, testEnv(t), hooks{})
	ctx := context.Background()
	client := h2cClient(t)

	health := grpchealth.NewClient(client, srv.base, connect.WithGRPC())
	for _, service := range append([]string{""}, serviceNames...) {
		res, err := health.Check(ctx, &grpchealth.CheckRequest{Service: service})
		if err != nil || res.Status != grpchealth.StatusServing {
			t.Errorf("health Check(%q) = %v, %v; want SERVING", service, res, err)
		}
	}
	if _, err := health.Check(ctx, &grpchealth.CheckRequest{Service: "no.such.Service"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("health Check of an unknown service: %v, want not_found", err)
	}

	stream := grpcreflect.NewClient(client, srv.base, connect.WithGRPC()).NewStream(ctx)
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("reflection ListServices: %v", err)
	}
	var got []string
	for _, n := range names {
		got = append(got, string(n))
	}
	for _, want := range append([]string{grpchealth.HealthV1ServiceName}, serviceNames...) {
		if !slices.Contains(got, want) {
			t.Errorf("reflection lists %v, missing %s", got, want)
		}
	}
	files, err := stream.FileContainingSymbol(profilesv1connect.ProfilesSDKServiceName)
	if err != nil || len(files) == 0 {
		t.Errorf("reflection FileContainingSymbol(%s) = %d files, %v", profilesv1connect.ProfilesSDKServiceName, len(files), err)
	}
}

// slowArgs is a test job that runs until the test releases it.
type slowArgs struct{}

func (slowArgs) Kind() string { return "test_slow" }

type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	started  chan struct{}
	release  chan struct{}
	finished chan error // the job context's error when Work returned
}

func (w *slowWorker) Work(ctx context.Context, _ *river.Job[slowArgs]) error {
	close(w.started)
	select {
	case <-w.release:
	case <-ctx.Done():
	}
	w.finished <- ctx.Err()
	return ctx.Err()
}

func newSlowWorker() *slowWorker {
	return &slowWorker{started: make(chan struct{}), release: make(chan struct{}), finished: make(chan error, 1)}
}

// insertJob inserts a slowArgs job into the database at url and returns a function that reads
// the job's state.
func insertJob(t *testing.T, databaseURL string) func() rivertype.JobState {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, databaseURL, 2)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Insert(ctx, slowArgs{}, nil)
	if err != nil {
		t.Fatalf("insert job: %v", err)
	}
	return func() rivertype.JobState {
		job, err := client.JobGet(ctx, res.Job.ID)
		if err != nil {
			t.Fatalf("get job: %v", err)
		}
		return job.State
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestGracefulShutdown cancels serve (SIGTERM) while a request is in flight and a job runs:
// the listener closes at once, both finish and succeed, and serve exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	reqStarted, reqRelease := make(chan struct{}), make(chan struct{})
	worker := newSlowWorker()
	srv := startServe(t, env, hooks{
		routes: func(r chi.Router) {
			r.Get("/test/slow", func(w http.ResponseWriter, _ *http.Request) {
				close(reqStarted)
				<-reqRelease
				_, _ = io.WriteString(w, "finished")
			})
		},
		workers: func(w *river.Workers) { river.AddWorker(w, worker) },
	})
	jobState := insertJob(t, env["PROFILES_DATABASE_URL"])
	waitClosed(t, "the job to start", worker.started)

	type response struct {
		code int
		body string
		err  error
	}
	responses := make(chan response, 1)
	go func() {
		resp, err := httpClient(t).Get(srv.base + "/test/slow")
		if err != nil {
			responses <- response{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		responses <- response{resp.StatusCode, string(b), err}
	}()
	waitClosed(t, "the request to reach its handler", reqStarted)

	exited := make(chan int, 1)
	go func() { exited <- srv.stop(t) }()
	waitFor(t, "the listener to close", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", srv.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case code := <-exited:
		t.Fatalf("serve exited %d with a request in flight and a job running", code)
	default:
	}

	close(reqRelease)
	if r := <-responses; r.err != nil || r.code != http.StatusOK || r.body != "finished" {
		t.Errorf("in-flight request during shutdown: %d %q %v, want 200 finished", r.code, r.body, r.err)
	}
	close(worker.release)
	if err := <-worker.finished; err != nil {
		t.Errorf("the running job's context ended with %v, want it left alone until done", err)
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d, want 0; logs:\n%s", code, srv.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after its request and job finished")
	}
	if state := jobState(); state != rivertype.JobStateCompleted {
		t.Errorf("job state after shutdown = %s, want completed", state)
	}
}

// TestShutdownCancelsJobsAfterSoftTimeout: a job that does not finish within the soft part of
// PROFILES_SHUTDOWN_TIMEOUT is cancelled, left to be retried, and serve still exits 0.
func TestShutdownCancelsJobsAfterSoftTimeout(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_SHUTDOWN_TIMEOUT"] = "1s"
	worker := newSlowWorker()
	srv := startServe(t, env, hooks{
		workers: func(w *river.Workers) { river.AddWorker(w, worker) },
	})
	jobState := insertJob(t, env["PROFILES_DATABASE_URL"])
	waitClosed(t, "the job to start", worker.started)
	begin := time.Now()
	if code := srv.stop(t); code != 0 {
		t.Errorf("serve exited %d, want 0; logs:\n%s", code, srv.logs)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("shutdown took %s with a 1s timeout", took)
	}
	if err := <-worker.finished; err == nil {
		t.Error("the stuck job's context was not cancelled")
	}
	if state := jobState(); state != rivertype.JobStateRetryable && state != rivertype.JobStateAvailable {
		t.Errorf("cancelled job state = %s, want retryable (it runs again later)", state)
	}
}

// TestWorker runs `profiles worker`: no API, a health listener, jobs worked, exit 0 on stop.
func TestWorker(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	env["PROFILES_WORKER_HTTP_ADDR"] = "127.0.0.1:0"
	worker := newSlowWorker()
	close(worker.release)
	srv := start(t, env, hooks{
		workers: func(w *river.Workers) { river.AddWorker(w, worker) },
	}, "worker")
	client := httpClient(t)
	if code, body := get(t, client, srv.base+"/readyz"); code != http.StatusOK {
		t.Errorf("worker /readyz = %d %s, want 200", code, body)
	}
	if code, _ := get(t, client, srv.base+profilesv1connect.ProfilesServiceGetProcedure); code != http.StatusNotFound {
		t.Errorf("worker serves the API (%d), want 404", code)
	}
	jobState := insertJob(t, env["PROFILES_DATABASE_URL"])
	waitFor(t, "the job to complete", 20*time.Second, func() bool { return jobState() == rivertype.JobStateCompleted })
	if code := srv.stop(t); code != 0 {
		t.Errorf("worker exited %d, want 0; logs:\n%s", code, srv.logs)
	}

	// Without workers to run (PROFILES_WORKERS=0) it refuses to start.
	env["PROFILES_WORKERS"] = "0"
	if r := runCLI(t, env, "worker"); r.code != 1 || !strings.Contains(r.stderr, "PROFILES_WORKERS") {
		t.Errorf("worker with PROFILES_WORKERS=0: exit %d, stderr %q; want 1 naming PROFILES_WORKERS", r.code, r.stderr)
	}
}
