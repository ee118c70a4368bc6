package main

import (
	"context"
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

// stack is one running serve that several subtests share, each in its own project.
type stack struct {
	env map[string]string
	srv *server
}

func newStack(t *testing.T) *stack {
	t.Helper()
	env := testEnv(t)
	return &stack{env: env, srv: startServe(t, env, hooks{})}
}

// tenant is a project with clients holding its keys.
type tenant struct {
	id   string
	sdk  profilesv1connect.ProfilesSDKServiceClient
	prof profilesv1connect.ProfilesServiceClient
	ev   eventsv1connect.EventsSDKServiceClient
}

func (s *stack) tenant(t *testing.T, name string) *tenant {
	t.Helper()
	p := createProject(t, s.env, name)
	hc := httpClient(t)
	with := func(key string) connect.ClientOption {
		return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+key)
				return next(ctx, req)
			}
		}))
	}
	return &tenant{
		id:   p.ProjectID,
		sdk:  profilesv1connect.NewProfilesSDKServiceClient(hc, s.srv.base, with(p.SDKKey)),
		prof: profilesv1connect.NewProfilesServiceClient(hc, s.srv.base, with(p.SecretKey)),
		ev:   eventsv1connect.NewEventsSDKServiceClient(hc, s.srv.base, with(p.SDKKey)),
	}
}

func (tn *tenant) identify(t *testing.T, req *profilesv1.IdentifyRequest) *profilesv1.IdentifyResponse {
	t.Helper()
	res, err := tn.sdk.Identify(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("Identify(%s, anon %q): %v", req.GetExternalId(), req.GetAnonymousId(), err)
	}
	return res.Msg
}

func (tn *tenant) alias(t *testing.T, req *profilesv1.AliasRequest) (*profilesv1.AliasResponse, error) {
	t.Helper()
	res, err := tn.sdk.Alias(context.Background(), connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func (tn *tenant) get(t *testing.T, req *profilesv1.GetRequest) (*profilesv1.Profile, error) {
	t.Helper()
	res, err := tn.prof.Get(context.Background(), connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetProfile(), nil
}

func (tn *tenant) mustGet(t *testing.T, req *profilesv1.GetRequest) *profilesv1.Profile {
	t.Helper()
	p, err := tn.get(t, req)
	if err != nil {
		t.Fatalf("Get(%v): %v", req, err)
	}
	return p
}

func (tn *tenant) track(t *testing.T, req *eventsv1.TrackRequest) {
	t.Helper()
	if _, err := tn.ev.Track(context.Background(), connect.NewRequest(req)); err != nil {
		t.Fatalf("Track(%s): %v", req.GetEvent(), err)
	}
}

// waitGet polls Get until cond holds (event figures and anonymous profiles arrive through
// the event pipeline).
func (tn *tenant) waitGet(t *testing.T, what string, req *profilesv1.GetRequest, cond func(*profilesv1.Profile) bool) *profilesv1.Profile {
	t.Helper()
	var p *profilesv1.Profile
	waitFor(t, what, 15*time.Second, func() bool {
		var err error
		p, err = tn.get(t, req)
		return err == nil && cond(p)
	})
	return p
}

func traits(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantCode(t *testing.T, err error, code connect.Code, mention string) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(mention)) {
		t.Fatalf("error %q does not name %q", err, mention)
	}
}
