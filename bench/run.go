package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// Config says what to drive and where the stores are for the baselines.
type Config struct {
	URL       string        // the server, e.g. http://127.0.0.1:8080
	SDKKey    string        // publishable key of the project to write into
	SecretKey string        // secret key of the same project, for reads
	ProjectID string        // the keys' project: read scenarios sample its profiles from Postgres
	Clients   int           // concurrent clients
	Duration  time.Duration // per scenario (at most, with Requests)
	Requests  int64         // > 0: a scenario also ends once this many requests have started
	Codecs    []string      // "json" (Connect JSON, as on the API page) and/or "binary"; empty: json
	Scenarios []string      // empty: all
	RunID     string        // prefixes generated ids so runs never collide
}

// Codecs the bench speaks: Connect's JSON (as the API page shows) and binary protobuf.
var Codecs = []string{"json", "binary"}

// Deps are the connections a run needs beyond HTTP. cmd opens them.
type Deps struct {
	Pool       *pgxpool.Pool
	ClickHouse driver.Conn
}

// Scenarios lists every scenario name, in the order they run: the baselines first, so that
// every path after them can be compared with the raw rate of its store.
var Scenarios = []string{
	"pg-upsert", "ch-insert",
	"identify-new", "identify-repeat", "alias", "track", "track-batch", "identify-flood",
	"get-cold", "get", "list-query", "list-part", "list-email", "list-filter",
	"lag-identify", "lag-get", "lag-list", "lag-count",
}

// ReadScenarios need profiles to read: a seeded project (profiles seed) or a small seed of
// their own.
var ReadScenarios = []string{"get-cold", "get", "list-query", "list-part", "list-email", "list-filter"}

// once says which scenarios run once whatever the codecs: the baselines speak to the stores,
// and a lag is a property of the pipeline, not of the codec (they use the first codec).
func once(name string) bool {
	return name == "pg-upsert" || name == "ch-insert" || strings.HasPrefix(name, "lag-")
}

// NeedsData reports whether any of names (empty: all) is a read scenario.
func NeedsData(names []string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if slices.Contains(ReadScenarios, n) {
			return true
		}
	}
	return false
}

// Run runs the scenarios and prints each result to out as it finishes.
func Run(ctx context.Context, cfg Config, deps Deps, out io.Writer) ([]Result, error) {
	if cfg.Clients <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("bench: clients and duration must be positive")
	}
	want := cfg.Scenarios
	if len(want) == 0 {
		want = Scenarios
	}
	for _, name := range want {
		if !slices.Contains(Scenarios, name) {
			return nil, fmt.Errorf("bench: unknown scenario %q (known: %v)", name, Scenarios)
		}
	}
	codecs := cfg.Codecs
	if len(codecs) == 0 {
		codecs = []string{"json"}
	}
	for _, c := range codecs {
		if !slices.Contains(Codecs, c) {
			return nil, fmt.Errorf("bench: unknown codec %q (known: %v)", c, Codecs)
		}
	}
	transport := &http.Transport{MaxIdleConns: cfg.Clients * 2, MaxIdleConnsPerHost: cfg.Clients * 2, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	r := &runner{
		cfg:  cfg,
		deps: deps,
		rss:  rssSampler{client: httpClient, url: cfg.URL + "/metrics", every: 250 * time.Millisecond},
	}
	var results []Result
	baselines := map[string]Result{}
	for _, name := range Scenarios {
		if !slices.Contains(want, name) {
			continue
		}
		for i, codec := range codecs {
			if i > 0 && once(name) {
				break
			}
			r.use(httpClient, codec)
			r.ids = r.cfg.RunID + "-" + codec + "-" + name
			stopRSS := r.rss.sample(ctx)
			res, err := r.run(ctx, name)
			res.ServerRSSMiB = stopRSS()
			if err != nil {
				return results, fmt.Errorf("%s: %w", name, err)
			}
			if !once(name) {
				res.Codec = codec
			}
			if res.Unit == "baseline" {
				res.Unit = "rows"
				baselines[name] = res
			}
			if base, ok := baselines[baselineOf[name]]; ok && base.PerSecond > 0 {
				res.Baseline, res.Ratio = base.Name, res.PerSecond/base.PerSecond
			}
			fmt.Fprintln(out, res)
			results = append(results, res)
			if waited, err := r.settle(ctx); err != nil {
				return results, fmt.Errorf("after %s: %w", name, err)
			} else if waited > time.Second {
				fmt.Fprintf(out, "    (waited %.1fs for the server's job backlog to drain)\n", waited.Seconds())
			}
		}
	}
	return results, nil
}

// use points the runner's clients at codec.
func (r *runner) use(hc *http.Client, codec string) {
	var opts []connect.ClientOption
	if codec == "json" {
		opts = append(opts, connect.WithProtoJSON())
	}
	withKey := func(key string) []connect.ClientOption {
		return append(slices.Clone(opts), connect.WithInterceptors(bearer(key)))
	}
	r.sdk = profilesv1connect.NewProfilesSDKServiceClient(hc, r.cfg.URL, withKey(r.cfg.SDKKey)...)
	r.events = eventsv1connect.NewEventsSDKServiceClient(hc, r.cfg.URL, withKey(r.cfg.SDKKey)...)
	r.profiles = profilesv1connect.NewProfilesServiceClient(hc, r.cfg.URL, withKey(r.cfg.SecretKey)...)
}

// settleLimit bounds the wait for the server's backlog between scenarios.
const settleLimit = 2 * time.Minute

// settle waits until no River job is available or running (projections, event batches), so
// that a scenario does not measure the backlog its predecessor left. It returns how long it
// waited; running out of settleLimit is not an error, only a noisier next scenario.
func (r *runner) settle(ctx context.Context) (time.Duration, error) {
	if r.deps.Pool == nil {
		return 0, nil
	}
	start := time.Now()
	for time.Since(start) < settleLimit {
		var pending int
		err := r.deps.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running')`).Scan(&pending)
		if err != nil || pending == 0 {
			return time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}

// baselineOf names the raw store rate that bounds each path: Postgres single-row upserts for
// identity writes, ClickHouse batch inserts for events (the ratio compares events/s with
// rows/s).
var baselineOf = map[string]string{
	"identify-new":    "pg-upsert",
	"identify-repeat": "pg-upsert",
	"alias":           "pg-upsert",
	"track":           "ch-insert",
	"track-batch":     "ch-insert",
}

type runner struct {
	cfg      Config
	deps     Deps
	rss      rssSampler
	ids      string // prefixes the ids a scenario makes: run, codec and scenario, so none repeats
	sdk      profilesv1connect.ProfilesSDKServiceClient
	events   eventsv1connect.EventsSDKServiceClient
	profiles profilesv1connect.ProfilesServiceClient
	sample   []sampleProfile // loaded by the first read scenario
	cold     coldSample      // loaded by get-cold
}

func (r *runner) run(ctx context.Context, name string) (Result, error) {
	c, d := r.cfg.Clients, budget{d: r.cfg.Duration, n: r.cfg.Requests}
	if slices.Contains(ReadScenarios, name) {
		if err := r.loadSample(ctx); err != nil {
			return Result{}, err
		}
	}
	switch name {
	case "pg-upsert":
		return r.pgUpsert(ctx, c, d)
	case "ch-insert":
		return r.chInsert(ctx, c, d)
	case "identify-new":
		return drive(ctx, name, "requests", c, d, r.identifyNew), nil
	case "identify-repeat":
		return drive(ctx, name, "requests", c, d, r.identifyRepeat), nil
	case "alias":
		return drive(ctx, name, "requests", c, d, r.alias), nil
	case "track":
		return drive(ctx, name, "requests", c, d, r.track), nil
	case "track-batch":
		return drive(ctx, name, "events", c, d, r.trackBatch), nil
	case "identify-flood":
		return r.flood(ctx, name, c, d), nil
	case "get":
		if err := r.warm(ctx); err != nil {
			return Result{}, err
		}
		return drive(ctx, name, "requests", c, d, r.get), nil
	case "get-cold":
		if err := r.loadCold(ctx); err != nil {
			return Result{}, err
		}
		return drive(ctx, name, "requests", c, d, r.getCold), nil
	case "list-query":
		return drive(ctx, name, "requests", c, d, r.listQuery), nil
	case "list-part":
		return drive(ctx, name, "requests", c, d, r.listPart), nil
	case "list-email":
		return drive(ctx, name, "requests", c, d, r.listEmail), nil
	case "list-filter":
		return drive(ctx, name, "requests", c, d, r.listFilter), nil
	case "lag-identify":
		return r.lag(ctx, name, c, d.d, r.identifyNew, readPlan, r.probeMapping)
	case "lag-get":
		return r.lag(ctx, name, c, d.d, r.identifyNew, readPlan, r.probeGet)
	case "lag-list":
		return r.lag(ctx, name, c, d.d, r.identifyNew, readPlan, r.probeList)
	case "lag-count":
		return r.lag(ctx, name, c, d.d, r.track, countPlan, r.probeCount)
	}
	return Result{}, fmt.Errorf("unknown scenario %q (known: %v)", name, Scenarios)
}

func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}
