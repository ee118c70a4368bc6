package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// Helpers of the API tests (identity_api_test.go, reads_api_test.go, events_api_test.go): one
// real `profiles serve` per top-level test, one project per subtest, clients holding its keys.

// eventWait bounds how long a test waits for the event pipeline (Track -> Postgres -> River ->
// ClickHouse) or a projection to show in a read.
const eventWait = 10 * time.Second

// apiServer is one running serve that the subtests of a top-level test share.
type apiServer struct {
	env map[string]string
	srv *server
}

// newAPIServer starts a serve on fresh databases. Extra settings go into its environment.
func newAPIServer(t *testing.T, settings map[string]string) *apiServer {
	t.Helper()
	env := testEnv(t)
	// The Postgres server is shared with other tests and processes; a serve here needs few
	// connections (identity writes are group-committed).
	env["PROFILES_PG_MAX_CONNS"] = "4"
	for k, v := range settings {
		env[k] = v
	}
	return &apiServer{env: env, srv: startServe(t, env, hooks{})}
}

// apiProject is one project on an apiServer with clients holding its SDK and secret keys.
type apiProject struct {
	t    *testing.T
	keys newProjectJSON
	base string
	sdk  profilesv1connect.ProfilesSDKServiceClient
	prof profilesv1connect.ProfilesServiceClient
	ev   eventsv1connect.EventsSDKServiceClient
}

func withBearer(token string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}))
}

// project creates a project with the CLI and returns clients for it.
func (s *apiServer) project(t *testing.T, name string) *apiProject {
	t.Helper()
	keys := createProject(t, s.env, name)
	hc := httpClient(t)
	return &apiProject{
		t:    t,
		keys: keys,
		base: s.srv.base,
		sdk:  profilesv1connect.NewProfilesSDKServiceClient(hc, s.srv.base, withBearer(keys.SDKKey)),
		prof: profilesv1connect.NewProfilesServiceClient(hc, s.srv.base, withBearer(keys.SecretKey)),
		ev:   eventsv1connect.NewEventsSDKServiceClient(hc, s.srv.base, withBearer(keys.SDKKey)),
	}
}

var bg = context.Background()

// identify calls Identify and fails the test on an error.
func (p *apiProject) identify(req *profilesv1.IdentifyRequest) *profilesv1.IdentifyResponse {
	p.t.Helper()
	res, err := p.sdk.Identify(bg, connect.NewRequest(req))
	if err != nil {
		p.t.Fatalf("Identify(externalId %q, anonymousId %q): %v, want success", req.GetExternalId(), req.GetAnonymousId(), err)
	}
	return res.Msg
}

func (p *apiProject) identifyErr(req *profilesv1.IdentifyRequest) error {
	_, err := p.sdk.Identify(bg, connect.NewRequest(req))
	return err
}

// alias calls Alias and fails the test on an error.
func (p *apiProject) alias(req *profilesv1.AliasRequest) *profilesv1.AliasResponse {
	p.t.Helper()
	res, err := p.sdk.Alias(bg, connect.NewRequest(req))
	if err != nil {
		p.t.Fatalf("Alias(previousId %q, externalId %q): %v, want success", req.GetPreviousId(), req.GetExternalId(), err)
	}
	return res.Msg
}

func (p *apiProject) aliasErr(req *profilesv1.AliasRequest) error {
	_, err := p.sdk.Alias(bg, connect.NewRequest(req))
	return err
}

// setOverrides calls SetTraitOverrides and fails the test on an error.
func (p *apiProject) setOverrides(req *profilesv1.SetTraitOverridesRequest) *profilesv1.Profile {
	p.t.Helper()
	res, err := p.prof.SetTraitOverrides(bg, connect.NewRequest(req))
	if err != nil {
		p.t.Fatalf("SetTraitOverrides(%v): %v, want success", req, err)
	}
	return res.Msg.GetProfile()
}

func (p *apiProject) get(req *profilesv1.GetRequest) (*profilesv1.Profile, error) {
	res, err := p.prof.Get(bg, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetProfile(), nil
}

// mustGet calls Get and fails the test on an error.
func (p *apiProject) mustGet(req *profilesv1.GetRequest) *profilesv1.Profile {
	p.t.Helper()
	prof, err := p.get(req)
	if err != nil {
		p.t.Fatalf("Get(%s): %v, want the profile", lookupString(req), err)
	}
	return prof
}

// waitProfile polls Get until cond holds, for the event pipeline and the anonymous profiles it
// creates; on timeout it reports the last answer.
func (p *apiProject) waitProfile(what string, req *profilesv1.GetRequest, cond func(*profilesv1.Profile) bool) *profilesv1.Profile {
	p.t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		prof, err := p.get(req)
		if err == nil && cond(prof) {
			return prof
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %s for %s; last Get(%s) = %v, %v", eventWait, what, lookupString(req), prof, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitEventCount waits until the profile req finds counts exactly n events.
func (p *apiProject) waitEventCount(req *profilesv1.GetRequest, n uint32) *profilesv1.Profile {
	p.t.Helper()
	return p.waitProfile(fmt.Sprintf("eventCount %d", n), req, func(prof *profilesv1.Profile) bool { return prof.EventCount == n })
}

func (p *apiProject) track(req *eventsv1.TrackRequest) {
	p.t.Helper()
	if _, err := p.ev.Track(bg, connect.NewRequest(req)); err != nil {
		p.t.Fatalf("Track(%q, anonymousId %q, externalId %q): %v, want success", req.GetEvent(), req.GetAnonymousId(), req.GetExternalId(), err)
	}
}

func (p *apiProject) trackBatch(events ...*eventsv1.Event) uint32 {
	p.t.Helper()
	res, err := p.ev.TrackBatch(bg, connect.NewRequest(&eventsv1.TrackBatchRequest{Events: events}))
	if err != nil {
		p.t.Fatalf("TrackBatch(%d events): %v, want success", len(events), err)
	}
	return res.Msg.Accepted
}

func (p *apiProject) list(req *profilesv1.ListRequest) *profilesv1.ListResponse {
	p.t.Helper()
	res, err := p.prof.List(bg, connect.NewRequest(req))
	if err != nil {
		p.t.Fatalf("List(%v): %v, want a page", req, err)
	}
	return res.Msg
}

// listExternalIDs returns the external ids of one List page, sorted, after checking that
// total agrees with a single page.
func (p *apiProject) listExternalIDs(req *profilesv1.ListRequest) []string {
	p.t.Helper()
	res := p.list(req)
	ids := externalIDs(res.Profiles)
	slices.Sort(ids)
	if int(res.Total) != len(ids) {
		p.t.Fatalf("List(%v): total %d but %d profiles on the only page", req, res.Total, len(ids))
	}
	return ids
}

func externalIDs(ps []*profilesv1.Profile) []string {
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ExternalId)
	}
	return ids
}

// history pages through ListEvents with pageSize and returns every event in order.
func (p *apiProject) history(req *profilesv1.ListEventsRequest) []*profilesv1.ProfileEvent {
	p.t.Helper()
	var all []*profilesv1.ProfileEvent
	for range 1000 {
		res, err := p.prof.ListEvents(bg, connect.NewRequest(req))
		if err != nil {
			p.t.Fatalf("ListEvents(%v): %v, want a page", req, err)
		}
		all = append(all, res.Msg.Events...)
		if res.Msg.NextPageToken == "" {
			return all
		}
		req.PageToken = res.Msg.NextPageToken
	}
	p.t.Fatalf("ListEvents never returned an empty next page token")
	return nil
}

// st builds a Struct for traits or properties.
func st(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("structpb.NewStruct(%v): %v", m, err)
	}
	return s
}

func traitsOf(p *profilesv1.Profile) map[string]any { return p.GetTraits().AsMap() }

// wantErr fails unless err has code and its message names field (case-sensitive, as the API
// spells it; "" skips the message check).
func wantErr(t *testing.T, what string, err error, code connect.Code, field string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s naming %q", what, code, field)
		return
	}
	if got := connect.CodeOf(err); got != code {
		t.Errorf("%s: %v, want code %s naming %q", what, err, code, field)
		return
	}
	msg := err.Error()
	if ce := new(connect.Error); errors.As(err, &ce) {
		msg = ce.Message()
	}
	if field != "" && !strings.Contains(msg, field) {
		t.Errorf("%s: message %q does not name %q", what, msg, field)
	}
}

func lookupString(req *profilesv1.GetRequest) string {
	switch {
	case req.GetExternalId() != "":
		return "externalId " + req.GetExternalId()
	case req.GetProfileId() != "":
		return "profileId " + req.GetProfileId()
	default:
		return "distinctId " + req.GetDistinctId()
	}
}

// postJSON POSTs body with plain net/http as the Connect JSON protocol expects, and returns the
// status and the decoded JSON object.
func postJSON(t *testing.T, base, procedure, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+procedure, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", procedure, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: status %d, body %q is not a JSON object: %v", procedure, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}
