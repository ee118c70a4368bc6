package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/db/postgres"
)

// demoProjectName is the project `projects demo` makes on an empty database.
const demoProjectName = "demo"

func newProjectsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "Create and list projects (tenants)",
	}
	var createJSON bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project with one SDK key and one secret key, shown this once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				p, sdk, secret, err := m.CreateProject(ctx, args[0])
				if err != nil {
					return err
				}
				return printNewProject(cmd.OutOrStdout(), p, sdk, secret, createJSON)
			})
		},
	}
	create.Flags().BoolVar(&createJSON, "json", false, `print {"projectId":…,"sdkKey":…,"secretKey":…}`)

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List every project",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				ps, err := m.ListProjects(ctx)
				if err != nil {
					return err
				}
				return printProjects(cmd.OutOrStdout(), ps, listJSON)
			})
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON instead of a table")

	demo := &cobra.Command{
		Use:   "demo",
		Short: `Create a project named "demo" and print its keys, unless a project exists`,
		Long: `On a database without projects, create one named "demo" and print its keys (this is what
'make run' does). When any project exists, say so and how to make a new key: keys are shown
only when created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				ps, err := m.ListProjects(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if len(ps) > 0 {
					p := ps[0]
					fmt.Fprintf(out, "A project exists already: %s (%s). Its keys were shown when it was created.\n", p.ID, p.Name)
					fmt.Fprintf(out, "For a new key: profiles keys create --project %s --kind sdk (or --kind secret)\n", p.ID)
					return nil
				}
				p, sdk, secret, err := m.CreateProject(ctx, demoProjectName)
				if err != nil {
					return err
				}
				return printNewProject(out, p, sdk, secret, false)
			})
		},
	}
	cmd.AddCommand(create, list, demo)
	return cmd
}

// withManager runs fn with a project Manager on the configured Postgres database.
func (a *app) withManager(cmd *cobra.Command, fn func(context.Context, *auth.Manager) error) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return fmt.Errorf("PROFILES_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	return fn(ctx, auth.NewManager(postgres.NewProjectStore(pool)))
}

// newProjectJSON is what `projects create --json` prints: the only time the keys are shown.
type newProjectJSON struct {
	ProjectID string `json:"projectId"`
	SDKKey    string `json:"sdkKey"`
	SecretKey string `json:"secretKey"`
}

func printNewProject(w io.Writer, p auth.Project, sdk, secret auth.Key, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(newProjectJSON{ProjectID: p.ID, SDKKey: sdk.Token, SecretKey: secret.Token})
	}
	_, err := fmt.Fprintf(w, `Created project %q: %s

  SDK key (publishable: browsers and apps; identify, alias, track):
    %s
  Secret key (server side only; reads and edits profiles):
    %s

These keys are shown only now: store them. Make more with 'profiles keys create'.
`, p.Name, p.ID, sdk.Token, secret.Token)
	return err
}

type projectJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

func printProjects(w io.Writer, ps []auth.Project, asJSON bool) error {
	if asJSON {
		out := make([]projectJSON, 0, len(ps))
		for _, p := range ps {
			out = append(out, projectJSON{p.ID, p.Name, p.CreatedAt})
		}
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.ID, p.Name, p.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
