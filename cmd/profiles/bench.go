package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/bench"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
)

func newBenchCmd(a *app) *cobra.Command {
	var (
		target, sdkKey, secretKey, scenarios string
		clients                              int
		duration                             time.Duration
		binary, asJSON                       bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive a running server over HTTP and print rates and latencies beside the stores' raw rates",
		Long: `Drive a running 'profiles serve' over real HTTP with --clients concurrent clients for --duration
per scenario, and print requests/s, p50/p95/p99/max latency and errors for each, beside the raw
Postgres upsert rate measured in the same run at the same concurrency.

Without --sdk-key it creates a fresh project in PROFILES_DATABASE_URL for the run. It reads
ClickHouse (PROFILES_CLICKHOUSE_URL) to measure how long a write takes to become visible there.
Scenarios: ` + strings.Join(bench.Scenarios, ", "),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
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
			runID := fmt.Sprintf("bench%d", time.Now().UnixNano())
			if sdkKey == "" {
				_, sdk, secret, err := auth.NewManager(postgres.NewProjectStore(pool)).CreateProject(ctx, runID)
				if err != nil {
					return err
				}
				sdkKey, secretKey = sdk.Token, secret.Token
			}
			if target == "" {
				target = "http://" + cfg.HTTPAddr
			}
			var names []string
			if scenarios != "" {
				names = strings.Split(scenarios, ",")
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "bench %s: %d clients, %s per scenario, %s\n", target, clients, duration, map[bool]string{true: "binary", false: "JSON"}[binary])
			results, err := bench.Run(ctx, bench.Config{
				URL: target, SDKKey: sdkKey, SecretKey: secretKey, Clients: clients, Duration: duration,
				Binary: binary, Scenarios: names, RunID: runID,
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
	f.StringVar(&secretKey, "secret-key", "", "secret key of the same project")
	f.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios (default: all)")
	f.IntVar(&clients, "clients", 32, "concurrent clients")
	f.DurationVar(&duration, "duration", 10*time.Second, "time per scenario")
	f.BoolVar(&binary, "binary", false, "Connect binary protobuf instead of JSON")
	f.BoolVar(&asJSON, "json", false, "also print the results as JSON")
	return cmd
}
