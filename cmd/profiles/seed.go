package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/bench"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
)

// seedMemoryLimit is the Go heap's soft limit during a seed.
const seedMemoryLimit = 512 << 20

// seedJSON is what `seed --json` prints once the load is done: the keys (shown only here) and
// what was loaded.
type seedJSON struct {
	newProjectJSON
	bench.SeedStats
}

func newSeedCmd(a *app) *cobra.Command {
	var (
		project          string
		profiles, events int
		seed             uint64
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Create a project and fill it with generated profiles and events, for benchmarks at scale",
		Long: `Create a project named --project, print its keys, and load --profiles generated profiles and
--events events straight into Postgres (COPY) and ClickHouse (batch inserts), bypassing the API:

  70% have an external id (user-<n>) and traits: email user<n>@example.com, name, plan
  (free/pro/enterprise), company, country, signup (RFC 3339), age, tags; 30% are anonymous.
  5% are anonymous profiles merged into an identified one, 2% are soft-deleted; each
  profile has 1 to 3 distinct ids. Events spread over every distinct id with a heavy tail,
  over the last 180 days. The ClickHouse projection (distinct_id_map, profiles) matches.

Then VACUUM ANALYZE in Postgres and OPTIMIZE ... FINAL in ClickHouse, so reads and writes meet
the tables as a long-lived database would hold them.
A million profiles and ten million events take minutes. Run 'profiles migrate' first; a
running server is fine (versions come from a reserved block of change_seq). Then:

  profiles bench --sdk-key pk_... --secret-key sk_... --scenarios get,list-query,list-email,list-filter`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			// The live data is a few hundred MiB at most (bench.Seed bounds its pipelines); a
			// soft limit keeps the garbage collector from letting the heap double past it.
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(seedMemoryLimit))
			ctx := cmd.Context()
			pool, err := postgres.Open(ctx, cfg.DatabaseURL, 6)
			if err != nil {
				return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
			}
			defer pool.Close()
			ch, err := clickhouse.Open(ctx, cfg.ClickHouseURL)
			if err != nil {
				return fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
			}
			defer ch.Close()
			p, sdk, secret, err := auth.NewManager(postgres.NewProjectStore(pool)).CreateProject(ctx, project)
			if err != nil {
				return err
			}
			out, progress := cmd.OutOrStdout(), cmd.OutOrStdout()
			if asJSON {
				progress = cmd.ErrOrStderr()
				fmt.Fprintf(progress, "project %s created; its keys are printed when the load ends\n", p.ID)
			} else if err := printNewProject(out, p, sdk, secret, false); err != nil {
				return err
			}
			stats, err := bench.Seed(ctx, pool, ch, bench.SeedConfig{
				ProjectID: p.ID, Profiles: profiles, Events: events, Seed: seed, Progress: progress,
			})
			if err != nil {
				return fmt.Errorf("project %s: %w", p.ID, err)
			}
			if asJSON {
				return json.NewEncoder(out).Encode(seedJSON{
					newProjectJSON: newProjectJSON{ProjectID: p.ID, SDKKey: sdk.Token, SecretKey: secret.Token},
					SeedStats:      stats,
				})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&project, "project", "seed", "name of the project to create")
	f.IntVar(&profiles, "profiles", 1_000_000, "profiles to load")
	f.IntVar(&events, "events", 10_000_000, "events to load")
	f.Uint64Var(&seed, "seed", 1, "random seed of the generated values")
	f.BoolVar(&asJSON, "json", false, "print progress to stderr and one JSON object (keys and counts) at the end")
	return cmd
}
