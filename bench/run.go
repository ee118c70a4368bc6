package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
)

// Config says what to drive and where the stores are for the baselines.
type Config struct {
	URL           string        // the server, e.g. http://127.0.0.1:8080
	SDKKey        string        // publishable key of the project to write into
	SecretKey     string        // secret key of the same project, for reads
	Clients       int           // concurrent clients
	Duration      time.Duration // per scenario
	Binary        bool          // Connect binary protobuf instead of JSON
	Scenarios     []string      // empty: all
	DatabaseURL   string        // Postgres, for the upsert baseline
	ClickHouseURL string        // ClickHouse, for read-lag probes and the insert baseline
	RunID         string        // prefixes generated ids so runs never collide
}

// Deps are the connections a run needs beyond HTTP. cmd opens them.
type Deps struct {
	Pool       *pgxpool.Pool
	ClickHouse driver.Conn
}

// Scenarios lists every scenario name, in the order they run.
var Scenarios = []string{"pg-upsert", "identify-new", "identify-repeat", "alias", "lag-identify"}

// Run runs the scenarios and prints each result to out as it finishes.
func Run(ctx context.Context, cfg Config, deps Deps, out io.Writer) ([]Result, error) {
	if cfg.Clients <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("bench: clients and duration must be positive")
	}
	transport := &http.Transport{MaxIdleConns: cfg.Clients * 2, MaxIdleConnsPerHost: cfg.Clients * 2, IdleConnTimeout: time.Minute}
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var opts []connect.ClientOption
	if !cfg.Binary {
		opts = append(opts, connect.WithProtoJSON())
	}
	r := &runner{
		cfg:  cfg,
		deps: deps,
		sdk:  profilesv1connect.NewProfilesSDKServiceClient(httpClient, cfg.URL, append(opts, connect.WithInterceptors(bearer(cfg.SDKKey)))...),
	}
	want := cfg.Scenarios
	if len(want) == 0 {
		want = Scenarios
	}
	var results []Result
	baselines := map[string]Result{}
	for _, name := range Scenarios {
		if !slices.Contains(want, name) {
			continue
		}
		res, err := r.run(ctx, name)
		if err != nil {
			return results, fmt.Errorf("%s: %w", name, err)
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
	}
	return results, nil
}

// baselineOf names the raw store rate that bounds each path.
var baselineOf = map[string]string{
	"identify-new":    "pg-upsert",
	"identify-repeat": "pg-upsert",
	"alias":           "pg-upsert",
}

type runner struct {
	cfg  Config
	deps Deps
	sdk  profilesv1connect.ProfilesSDKServiceClient
}

func (r *runner) run(ctx context.Context, name string) (Result, error) {
	c, d := r.cfg.Clients, r.cfg.Duration
	switch name {
	case "pg-upsert":
		return r.pgUpsert(ctx, c, d)
	case "identify-new":
		return drive(ctx, name, "requests", c, d, r.identifyNew), nil
	case "identify-repeat":
		return drive(ctx, name, "requests", c, d, r.identifyRepeat), nil
	case "alias":
		return drive(ctx, name, "requests", c, d, r.alias), nil
	case "lag-identify":
		return r.lagIdentify(ctx, c, d)
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
