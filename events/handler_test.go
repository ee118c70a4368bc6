package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/events"
	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
)

// memIngester records what reaches it, or fails with err.
type memIngester struct {
	mu     sync.Mutex
	err    error
	events []events.Event
}

func (m *memIngester) Append(_ context.Context, es []events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, es...)
	return nil
}

// setupHandler serves the handler over HTTP the way cmd mounts it: behind an interceptor that
// puts the caller's project in the context (as auth's does), with the documented body limit.
// codecs are the client options of the two encodings every handler test runs over.
var codecs = []struct {
	name string
	opts []connect.ClientOption
}{
	{"binary", nil},
	{"json", []connect.ClientOption{connect.WithProtoJSON()}},
}

func setupHandler(t *testing.T, opts ...connect.ClientOption) (eventsv1connect.EventsSDKServiceClient, *memIngester) {
	t.Helper()
	srv, ing := serveHandler(t)
	client := eventsv1connect.NewEventsSDKServiceClient(srv.Client(), srv.URL, append(opts, connect.WithSendMaxBytes(64<<20))...)
	return client, ing
}

// serveHandler is setupHandler's server, for requests no generated client sends.
func serveHandler(t *testing.T) (*httptest.Server, *memIngester) {
	t.Helper()
	ing := &memIngester{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	principal := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if p := req.Header().Get("X-Test-Project"); p != "" {
				ctx = auth.NewContext(ctx, auth.Principal{ProjectID: p, Via: auth.ViaSDKKey})
			}
			return next(ctx, req)
		}
	})
	path, h := events.NewConnectHandler(events.NewHandler(events.NewService(ing), logger),
		connect.WithInterceptors(principal), connect.WithReadMaxBytes(events.MaxRequestBytes))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, ing
}

func asProject[T any](msg *T, project string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if project != "" {
		req.Header().Set("X-Test-Project", project)
	}
	return req
}

func TestHandlerTrack(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client, ing := setupHandler(t, c.opts...)
			props, _ := structpb.NewStruct(map[string]any{"plan": "pro", "n": 2, "tags": []any{"a", nil}, "o": map[string]any{}})
			ts := timestamppb.New(now)
			_, err := client.Track(context.Background(), asProject(&eventsv1.TrackRequest{
				Event: "Signed Up", AnonymousId: "anon-1", ExternalId: "user-42", Properties: props, Timestamp: ts, MessageId: "m1",
			}, "proj_a"))
			if err != nil {
				t.Fatalf("Track: %v", err)
			}
			if len(ing.events) != 1 {
				t.Fatalf("ingester got %d events; want 1", len(ing.events))
			}
			e := ing.events[0]
			if e.ProjectID != "proj_a" || e.DistinctID != "user-42" || e.Name != "Signed Up" || e.MessageID != "m1" ||
				!e.Timestamp.Equal(now) || e.ReceivedAt.IsZero() {
				t.Errorf("stored %+v; want project from the principal, the external id as distinct id, fields as sent", e)
			}
			want := map[string]any{"plan": "pro", "n": 2.0, "tags": []any{"a", nil}, "o": map[string]any{}}
			if diff := cmp.Diff(want, e.Properties); diff != "" {
				t.Errorf("stored properties differ from those sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerTrackBatch(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client, ing := setupHandler(t, c.opts...)
			in := &eventsv1.TrackBatchRequest{}
			for i := range 3 {
				in.Events = append(in.Events, &eventsv1.Event{Event: "Viewed", AnonymousId: fmt.Sprintf("anon-%d", i)})
			}
			res, err := client.TrackBatch(context.Background(), asProject(in, "proj_a"))
			if err != nil || res.Msg.GetAccepted() != 3 || len(ing.events) != 3 || ing.events[2].AnonymousID != "anon-2" {
				t.Fatalf("TrackBatch = %v, %v with %d stored; want 3 accepted and stored in order", res, err, len(ing.events))
			}

			empty, err := client.TrackBatch(context.Background(), asProject(&eventsv1.TrackBatchRequest{}, "proj_a"))
			if err != nil || empty.Msg.GetAccepted() != 0 {
				t.Errorf("empty TrackBatch = %v, %v; want 0 accepted, no error", empty, err)
			}
		})
	}
}

// TestHandlerRefusesMalformedJSON sends bodies no generated client would: each is refused
// before validation with invalid_argument, and a message that says what is wrong.
func TestHandlerRefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, body, message string }{
		{"TrackBatch", `{"events":[{"event":"e","anonymousId":"a","anonymous_id":"b"}]}`, "events[0]: duplicate field"},
		{"TrackBatch", `{"events":[{"event":"e","anonymousId":"a","properties":{"n":1e999}}]}`, "events[0]: properties: invalid google.protobuf.Value: 1e999"},
		{"Track", "{\"event\":\"e\xff\",\"anonymousId\":\"a\"}", "event: invalid UTF-8 in string"},
		{"Track", `{"event":"e","anonymousId":"a"} {}`, "after the message"},
	}
	srv, ing := serveHandler(t)
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/events.v1.EventsSDKService/"+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Project", "p") // refused for its body, not for a missing caller
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"invalid_argument"`) ||
			!strings.Contains(string(body), tt.message) {
			t.Errorf("%s %s: %d %s; want 400 invalid_argument saying %q", tt.path, tt.body, res.StatusCode, body, tt.message)
		}
		if len(ing.events) != 0 {
			t.Errorf("%s %s: %d events stored; want none", tt.path, tt.body, len(ing.events))
		}
	}
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	props, _ := structpb.NewStruct(map[string]any{"a": strings.Repeat("x", 8000), "b": strings.Repeat("y", 8000)})
	bigBatch := &eventsv1.TrackBatchRequest{}
	for range 40 { // 40 x 16 KB: over MaxBatchBytes, under MaxRequestBytes on the wire
		bigBatch.Events = append(bigBatch.Events, &eventsv1.Event{Event: "e", AnonymousId: "a", Properties: props})
	}
	oversized := &eventsv1.TrackBatchRequest{Events: []*eventsv1.Event{{Event: "e", AnonymousId: "a"}}}
	for range 150 {
		oversized.Events = append(oversized.Events, &eventsv1.Event{Event: strings.Repeat("e", 8000)})
	}
	tests := []struct {
		name      string
		project   string
		ingestErr error
		call      func(eventsv1connect.EventsSDKServiceClient, string) error
		code      connect.Code
		message   string // a substring of the client's message
		hidden    string // must not appear in it
	}{
		{
			name: "invalid event names the field", project: "p",
			call: track(&eventsv1.TrackRequest{Event: "e", AnonymousId: "undefined"}),
			code: connect.CodeInvalidArgument, message: "anonymousId",
		},
		{
			name: "invalid batch event names its index", project: "p",
			call: batch(&eventsv1.TrackBatchRequest{Events: []*eventsv1.Event{
				{Event: "ok", AnonymousId: "a"}, {Event: "ok", AnonymousId: "a"}, {AnonymousId: "a"},
			}}),
			code: connect.CodeInvalidArgument, message: "events[2].event",
		},
		{
			name: "batch over the byte limit", project: "p", call: batch(bigBatch),
			code: connect.CodeInvalidArgument, message: "events: a batch must be at most 524288 bytes",
		},
		{
			name: "body over MaxRequestBytes", project: "p", call: batch(oversized),
			code: connect.CodeResourceExhausted,
		},
		{
			name: "storage down is unavailable without details", project: "p",
			ingestErr: fmt.Errorf("%w: dial tcp 10.1.2.3:5432: password authentication failed", events.ErrUnavailable),
			call:      track(&eventsv1.TrackRequest{Event: "e", AnonymousId: "a"}),
			code:      connect.CodeUnavailable, message: "retry", hidden: "10.1.2.3",
		},
		{
			name: "unexpected error is internal and generic", project: "p",
			ingestErr: errors.New("pq: relation event_batches does not exist"),
			call:      track(&eventsv1.TrackRequest{Event: "e", AnonymousId: "a"}),
			code:      connect.CodeInternal, message: "internal error", hidden: "event_batches",
		},
		{
			name: "no principal", call: track(&eventsv1.TrackRequest{Event: "e", AnonymousId: "a"}),
			code: connect.CodeUnauthenticated,
		},
	}
	for _, tt := range tests {
		for _, c := range codecs {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				client, ing := setupHandler(t, c.opts...)
				ing.err = tt.ingestErr
				err := tt.call(client, tt.project)
				if connect.CodeOf(err) != tt.code {
					t.Fatalf("error %v has code %v; want %v", err, connect.CodeOf(err), tt.code)
				}
				msg := err.Error()
				if !strings.Contains(msg, tt.message) || (tt.hidden != "" && strings.Contains(msg, tt.hidden)) {
					t.Errorf("client sees %q; want it to contain %q and not %q", msg, tt.message, tt.hidden)
				}
				if tt.ingestErr == nil && len(ing.events) != 0 {
					t.Errorf("%d events stored from a refused request; want none", len(ing.events))
				}
			})
		}
	}
}

func track(m *eventsv1.TrackRequest) func(eventsv1connect.EventsSDKServiceClient, string) error {
	return func(c eventsv1connect.EventsSDKServiceClient, project string) error {
		_, err := c.Track(context.Background(), asProject(m, project))
		return err
	}
}

func batch(m *eventsv1.TrackBatchRequest) func(eventsv1connect.EventsSDKServiceClient, string) error {
	return func(c eventsv1connect.EventsSDKServiceClient, project string) error {
		_, err := c.TrackBatch(context.Background(), asProject(m, project))
		return err
	}
}
