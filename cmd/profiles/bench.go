package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/bench"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
)

func newBenchCmd(a *app) *cobra.Command {
	var (
		target, sdkKey, secretKey, scenarios string
		clients, seedProfiles, seedEvents    int
		requests                             int64
		duration                             time.Duration
		codec, cpuProfile                    string
		asJSON                               bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive a running server over HTTP and print rates and latencies beside the stores' raw rates",
		Long: `Drive a running 'profiles serve' over real HTTP with --clients concurrent clients for --duration
per scenario (or until --requests have started, if sooner), and print requests/s,
p50/p95/p99/max latency, errors and the server's peak resident memory (from its /metrics) for
each, beside the raw store rates measured in the same run: Postgres single-row upserts
(pg-upsert, at --clients connections) bound the identity writes, ClickHouse batch inserts of
100,000 event rows into a scratch copy of the events table (ch-insert, at most 4 writers)
bound Track; each path prints its ratio to its baseline when the baseline ran in the same run.
--codec both runs every API scenario over Connect JSON and again over binary protobuf.

Scenarios: ` + strings.Join(bench.Scenarios, ", ") + `
  track, track-batch   one event per request; 100 events per TrackBatch (rate in events/s)
  get                  Get by the external id of a random profile of a working set of 5,000
                       live profiles, each read once before measuring (eventCount included)
  get-cold             Get of a profile no request of the run read before (its event
                       figures are read from ClickHouse)
  list-query           List with a full name as the query (matches one to a few dozen
                       profiles; the word index narrows it)
  list-part            List with a last name less its first letter (one word, which may
                       sit inside a longer one: the trigram index serves it)
  list-email           List with one exact email as the query
  list-filter          List with plan = "pro" AND age > 40, exact total included
  identify-flood       identify-new from half the clients while the other half send
                       TrackBatch of new visitors (their profiles share Identify's writer);
                       Identify's figures, TrackBatch's events/s as the load
  lag-*                --clients - 1 clients load (identify-new, or track for lag-count) while a
                       probe starts every 50 ms (200 ms for lag-count) and polls until its write
                       shows: Identify -> mapping in ClickHouse (lag-identify), -> new trait in
                       Get (lag-get), -> new email found by List (lag-list); Track of a new id ->
                       eventCount 1 in Get (lag-count); p50/p99 from the write's answer

Keys: --sdk-key and --secret-key name an existing project (both or neither); the read
scenarios sample its live identified profiles from Postgres, so it must hold some: load one
with 'profiles seed --profiles 1000000 --events 10000000' and pass the keys it prints.
Without keys the bench creates a fresh project in PROFILES_DATABASE_URL and, when a read
scenario is selected, first seeds it with --seed-profiles profiles and --seed-events events
(small: the read figures then say little about a large project).

The write and lag scenarios add profiles and events to the project they write into (a run
of all of them some 100,000 profiles, every one newer than the seeded ones), which changes
what later reads meet: against a seeded project, run the read scenarios first.

  profiles bench --sdk-key pk_... --secret-key sk_... --scenarios get,list-query,list-email,list-filter
  profiles bench --sdk-key pk_... --secret-key sk_... --scenarios pg-upsert,ch-insert,identify-new,identify-repeat,alias,track,track-batch,identify-flood,lag-identify,lag-get,lag-list,lag-count`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if codec != "both" && !slices.Contains(bench.Codecs, codec) {
				return usageError{fmt.Errorf("--codec %q: want json, binary or both", codec)}
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			ctx := cmd.Context()
			pool, err := postgres.Open(ctx, cfg.DatabaseURL, int32(clients+4))
			if err != nil {
				return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
			}
			defer pool.Close()
			ch, err := clickhouse.Open(ctx, cfg.ClickHouseURL)
			if err != nil {
				return fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
			}
			defer ch.Close()
			out := cmd.OutOrStdout()
			if on, err := postgres.Autovacuum(ctx, pool); err == nil && !on {
				fmt.Fprintln(out, "note: Postgres runs without autovacuum: dead rows pile up from run to run and the write paths slow; VACUUM between runs")
			}
			runID := fmt.Sprintf("bench%d", time.Now().UnixNano())
			var names []string
			if scenarios != "" {
				names = strings.Split(scenarios, ",")
			}
			var projectID string
			switch {
			case (sdkKey == "") != (secretKey == ""):
				return usageError{errors.New("give both --sdk-key and --secret-key, or neither")}
			case sdkKey != "":
				if projectID, err = projectOfKey(ctx, pool, secretKey); err != nil {
					return err
				}
			default:
				p, sdk, secret, err := auth.NewManager(postgres.NewProjectStore(pool)).CreateProject(ctx, runID)
				if err != nil {
					return err
				}
				projectID, sdkKey, secretKey = p.ID, sdk.Token, secret.Token
				if bench.NeedsData(names) {
					fmt.Fprintf(out, "seeding project %s with %d profiles and %d events for the read scenarios\n", p.ID, seedProfiles, seedEvents)
					_, err := bench.Seed(ctx, pool, ch, bench.SeedConfig{ProjectID: p.ID, Profiles: seedProfiles, Events: seedEvents, Seed: 1, Progress: out})
					if err != nil {
						return err
					}
				}
			}
			if target == "" {
				target = "http://" + cfg.HTTPAddr
			}
			codecs := []string{codec}
			if codec == "both" {
				codecs = bench.Codecs
			}
			fmt.Fprintf(out, "bench %s: %d clients, %s per scenario, codecs %s\n", target, clients, duration, strings.Join(codecs, ", "))
			results, err := bench.Run(ctx, bench.Config{
				URL: target, SDKKey: sdkKey, SecretKey: secretKey, ProjectID: projectID, Clients: clients, Duration: duration,
				Requests: requests, Codecs: codecs, Scenarios: names, RunID: runID,
			}, bench.Deps{Pool: pool, ClickHouse: ch}, out)
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(results)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "url", "", "server base URL (default http:// + PROFILES_HTTP_ADDR)")
	f.StringVar(&sdkKey, "sdk-key", "", "SDK key of the project to write into (default: a new project)")
	f.StringVar(&secretKey, "secret-key", "", "secret key of the same project, for the reads")
	f.IntVar(&seedProfiles, "seed-profiles", 10_000, "without keys: profiles to seed the fresh project with for the read scenarios")
	f.IntVar(&seedEvents, "seed-events", 100_000, "without keys: events to seed the fresh project with for the read scenarios")
	f.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios (default: all)")
	f.IntVar(&clients, "clients", 32, "concurrent clients")
	f.DurationVar(&duration, "duration", 10*time.Second, "time per scenario (at most, with --requests)")
	f.Int64Var(&requests, "requests", 0, "end each scenario once this many requests have started (0: --duration alone); lag scenarios always run --duration")
	f.StringVar(&codec, "codec", "json", "json (Connect JSON, as on the API page), binary (protobuf), or both")
	f.BoolVar(&asJSON, "json", false, "also print the results as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file (go tool pprof reads it)")
	return cmd
}

// startCPUProfile profiles this process into path until the returned function runs: what
// the load generator itself costs, on a machine it shares with the server.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// projectOfKey returns the project of an API key token, from the key store.
func projectOfKey(ctx context.Context, pool *pgxpool.Pool, token string) (string, error) {
	id, _, _, err := auth.ParseToken(token)
	if err != nil {
		return "", usageError{fmt.Errorf("--secret-key: %w", err)}
	}
	k, err := postgres.NewProjectStore(pool).LookupKey(ctx, id)
	if err != nil {
		return "", fmt.Errorf("look up the project of --secret-key: %w", err)
	}
	return k.ProjectID, nil
}
