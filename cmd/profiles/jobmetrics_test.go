package main

import (
	"context"
	"strings"
	"testing"
	"time"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// TestJobMetrics: /metrics reports River's jobs by queue, kind and state, so a projection job
// shows as completed once an Identify's change reached ClickHouse.
func TestJobMetrics(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	p := createProject(t, env, "metrics")
	srv := startServe(t, env, hooks{})
	client := profilesv1connect.NewProfilesSDKServiceClient(httpClient(t), srv.base)
	if _, err := client.Identify(context.Background(), bearer(&profilesv1.IdentifyRequest{ExternalId: "u1"}, p.SDKKey)); err != nil {
		t.Fatal(err)
	}
	want := `profiles_river_jobs{kind="identity_projection_v2",queue="projection",state="completed"} 1`
	var body string
	waitFor(t, "a completed projection job in /metrics", 10*time.Second, func() bool {
		_, body = get(t, httpClient(t), srv.base+"/metrics")
		return strings.Contains(body, want)
	})
}
