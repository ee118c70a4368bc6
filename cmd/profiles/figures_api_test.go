package main

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/poluruprvn/profiles/gen/events/v1"
	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// TestFigureCacheAcrossProcesses: a serve that works no jobs answers Get from its event-figure
// cache, and a `profiles worker` that stores new events makes that serve read them again, through
// the Postgres feed; when the serve's LISTEN connection is cut, it reads from ClickHouse until the
// feed is back, and misses nothing announced meanwhile.
func TestFigureCacheAcrossProcesses(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	serveEnv := maps.Clone(env)
	serveEnv["PROFILES_WORKERS"] = "0"
	workerEnv := maps.Clone(env)
	workerEnv["PROFILES_WORKER_HTTP_ADDR"] = "127.0.0.1:0"
	s := &apiServer{env: serveEnv, srv: startServe(t, serveEnv, hooks{})}
	start(t, workerEnv, hooks{}, "worker")
	p := s.project(t, "figures")
	u := &profilesv1.GetRequest{ExternalId: "u"}

	p.identify(&profilesv1.IdentifyRequest{ExternalId: "u"})
	p.track(&eventsv1.TrackRequest{Event: "Viewed", ExternalId: "u", MessageId: "m1"})
	p.waitEventCount(u, 1)
	hits := figureReads(t, s, "hit")
	for range 3 {
		if got := p.mustGet(u).EventCount; got != 1 {
			t.Fatalf("eventCount %d, want 1", got)
		}
	}
	if got := figureReads(t, s, "hit"); got < hits+3 {
		t.Fatalf("figure cache hits %v -> %v over three Gets of an unchanged profile, want 3 more: the cache is not in use", hits, got)
	}

	// Stored by the worker process, announced to the serve process.
	p.track(&eventsv1.TrackRequest{Event: "Viewed", ExternalId: "u", MessageId: "m2"})
	p.waitEventCount(u, 2)

	// Cut the serve's LISTEN connection: events stored while it reconnects count all the same.
	cutFigureFeed(t, env["PROFILES_DATABASE_URL"])
	p.track(&eventsv1.TrackRequest{Event: "Viewed", ExternalId: "u", MessageId: "m3"})
	p.waitEventCount(u, 3)
	waitFor(t, "the figure feed to reconnect", 10*time.Second, func() bool { return listeners(t, env["PROFILES_DATABASE_URL"]) == 1 })
	p.track(&eventsv1.TrackRequest{Event: "Viewed", ExternalId: "u", MessageId: "m4"})
	p.waitEventCount(u, 4)
	if got := p.mustGet(u).EventCount; got != 4 {
		t.Errorf("eventCount %d after the feed came back, want 4", got)
	}
}

var figureReadsLine = regexp.MustCompile(`profiles_event_figure_reads_total\{result="(\w+)"\} (\S+)`)

// figureReads scrapes the serve's count of event-figure reads with result hit or miss.
func figureReads(t *testing.T, s *apiServer, result string) float64 {
	t.Helper()
	_, body := get(t, httpClient(t), s.srv.base+"/metrics")
	for _, m := range figureReadsLine.FindAllStringSubmatch(body, -1) {
		if m[1] == result {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

// sqlFigureListeners finds the sessions of the test's database that LISTEN to the figure feed.
const sqlFigureListeners = `SELECT pid FROM pg_stat_activity
WHERE datname = $1 AND query = 'LISTEN profiles_event_figures' AND pid <> pg_backend_pid()`

func listenerPIDs(t *testing.T, databaseURL string) (*pgx.Conn, []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, sqlFigureListeners, u.Path[1:])
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return conn, pids
}

func listeners(t *testing.T, databaseURL string) int {
	conn, pids := listenerPIDs(t, databaseURL)
	conn.Close(context.Background())
	return len(pids)
}

// cutFigureFeed terminates the one session listening to the feed.
func cutFigureFeed(t *testing.T, databaseURL string) {
	t.Helper()
	conn, pids := listenerPIDs(t, databaseURL)
	defer conn.Close(context.Background())
	if len(pids) != 1 {
		t.Fatalf("%d sessions listen to the figure feed, want the serve's one", len(pids))
	}
	if _, err := conn.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
}
