package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
)

func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create the Postgres and ClickHouse databases if missing and apply every migration",
		Long: `Create the databases named in PROFILES_DATABASE_URL and PROFILES_CLICKHOUSE_URL when they do not
exist, then apply every pending migration: Postgres (ours, then River's), then ClickHouse. All
of it runs under one Postgres advisory lock, so two migrate processes at once take turns;
applying twice changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			return migrate(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()), cmd.OutOrStdout())
		},
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "List every migration and whether it is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			return migrationStatus(cmd.Context(), cfg, cmd.OutOrStdout(), asJSON)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.AddCommand(status)
	return cmd
}

// migrationRow is one line of `migrate status`.
type migrationRow struct {
	Component string `json:"component"` // postgres, river or clickhouse
	Version   int64  `json:"version"`
	Name      string `json:"name"`
	Applied   bool   `json:"applied"`
}

func migrate(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) error {
	if err := ensurePostgresDatabase(ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	before, err := postgres.Status(ctx, pool)
	if err != nil {
		return err
	}

	var chApplied []string
	clickhouseStep := func(ctx context.Context) error {
		if err := clickhouse.EnsureDatabase(ctx, cfg.ClickHouseURL); err != nil {
			return fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
		}
		conn, err := clickhouse.Open(ctx, cfg.ClickHouseURL)
		if err != nil {
			return fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
		}
		defer conn.Close()
		chApplied, err = clickhouse.Migrate(ctx, conn)
		return err
	}
	start := time.Now()
	if err := postgres.Migrate(ctx, pool, clickhouseStep); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	after, err := postgres.Status(ctx, pool)
	if err != nil {
		return err
	}

	was := map[string]bool{}
	for _, m := range before {
		was[m.Component+"/"+m.Name] = m.Applied
	}
	applied := map[string][]string{}
	total := map[string]int{}
	for _, m := range after {
		total[m.Component]++
		if m.Applied && !was[m.Component+"/"+m.Name] {
			applied[m.Component] = append(applied[m.Component], m.Name)
		}
	}
	applied["clickhouse"] = chApplied
	for _, component := range []string{"postgres", "river", "clickhouse"} {
		if names := applied[component]; len(names) > 0 {
			fmt.Fprintf(out, "%-10s  applied %d: %s\n", component, len(names), strings.Join(names, ", "))
		} else {
			fmt.Fprintf(out, "%-10s  up to date\n", component)
		}
	}
	logger.Debug("migrated", "took", time.Since(start).Round(time.Millisecond).String(),
		"postgres", len(applied["postgres"]), "river", len(applied["river"]), "clickhouse", len(chApplied))
	return nil
}

// ensurePostgresDatabase creates the database, retrying a few times: two migrate processes
// creating the same database at once can see "template1 is being accessed by other users" or a
// unique violation, and the second attempt then finds the database there.
func ensurePostgresDatabase(ctx context.Context, url string) error {
	var err error
	for attempt := range 5 {
		if err = postgres.EnsureDatabase(ctx, url); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return err
}

func migrationStatus(ctx context.Context, cfg Config, out io.Writer, asJSON bool) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
			return errors.New("PROFILES_DATABASE_URL: the Postgres database does not exist: run `profiles migrate`")
		}
		return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	pg, err := postgres.Status(ctx, pool)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(ctx, cfg.ClickHouseURL)
	if err != nil {
		var exc *ch.Exception
		if errors.As(err, &exc) && exc.Code == 81 { // UNKNOWN_DATABASE
			return errors.New("PROFILES_CLICKHOUSE_URL: the ClickHouse database does not exist: run `profiles migrate`")
		}
		return fmt.Errorf("PROFILES_CLICKHOUSE_URL: %w", err)
	}
	defer conn.Close()
	chs, err := clickhouse.Status(ctx, conn)
	if err != nil {
		return err
	}

	rows := make([]migrationRow, 0, len(pg)+len(chs))
	for _, m := range pg {
		rows = append(rows, migrationRow{m.Component, m.Version, m.Name, m.Applied})
	}
	for _, m := range chs {
		rows = append(rows, migrationRow{"clickhouse", int64(m.Version), m.Name, m.Applied})
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tNAME\tAPPLIED")
	pending := 0
	for _, r := range rows {
		state := "yes"
		if !r.Applied {
			state, pending = "no", pending+1
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Component, r.Version, r.Name, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pending > 0 {
		fmt.Fprintf(out, "\n%d pending: run `profiles migrate`\n", pending)
	}
	return nil
}
