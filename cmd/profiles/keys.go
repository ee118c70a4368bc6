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
)

func newKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke a project's API keys",
	}
	var project string
	cmd.PersistentFlags().StringVar(&project, "project", "", "project id (proj_…)")
	_ = cmd.MarkPersistentFlagRequired("project")

	var kind, name string
	var createJSON bool
	create := &cobra.Command{
		Use:   "create --project ID --kind sdk|secret [--name NAME]",
		Short: "Create a key; its token is shown this once",
		Long: `Create an API key for a project. An sdk key is publishable (browsers, apps) and reaches only the
SDK services; a secret key is for servers and reaches every service of its project. The token
is printed now and never again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := auth.ParseKind(kind)
			if err != nil {
				return usageError{fmt.Errorf("--kind: %w", err)}
			}
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				key, err := m.CreateKey(ctx, project, k, name)
				if err != nil {
					return err
				}
				return printNewKey(cmd.OutOrStdout(), key, createJSON)
			})
		},
	}
	create.Flags().StringVar(&kind, "kind", "", "sdk (publishable) or secret (server side)")
	create.Flags().StringVar(&name, "name", "cli key", "a name to tell the key apart in listings")
	create.Flags().BoolVar(&createJSON, "json", false, `print {"keyId":…,"projectId":…,"kind":…,"name":…,"token":…}`)
	_ = create.MarkFlagRequired("kind")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list --project ID",
		Short: "List a project's keys, revoked ones included (never their tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				keys, err := m.ListKeys(ctx, project)
				if err != nil {
					return err
				}
				return printKeys(cmd.OutOrStdout(), keys, listJSON)
			})
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON instead of a table")

	revoke := &cobra.Command{
		Use:   "revoke --project ID KEY_ID",
		Short: "Revoke a key",
		Long: `Revoke a key of the project. Revoking is final. A running process that has the key in its cache
accepts it for at most PROFILES_KEY_CACHE_TTL more.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd, func(ctx context.Context, m *auth.Manager) error {
				if err := m.RevokeKey(ctx, project, args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s of project %s.\n", args[0], project)
				return err
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

type newKeyJSON struct {
	KeyID     string `json:"keyId"`
	ProjectID string `json:"projectId"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Token     string `json:"token"`
}

func printNewKey(w io.Writer, k auth.Key, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(newKeyJSON{k.ID, k.ProjectID, string(k.Kind), k.Name, k.Token})
	}
	_, err := fmt.Fprintf(w, "Created %s key %s (%q) for project %s:\n    %s\nThe token is shown only now: store it.\n",
		k.Kind, k.ID, k.Name, k.ProjectID, k.Token)
	return err
}

type keyJSON struct {
	ID        string     `json:"id"`
	ProjectID string     `json:"projectId"`
	Kind      string     `json:"kind"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

func printKeys(w io.Writer, keys []auth.KeyInfo, asJSON bool) error {
	if asJSON {
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			j := keyJSON{ID: k.ID, ProjectID: k.ProjectID, Kind: string(k.Kind), Name: k.Name, CreatedAt: k.CreatedAt}
			if k.Revoked() {
				j.RevokedAt = &k.RevokedAt
			}
			out = append(out, j)
		}
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.Revoked() {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Kind, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
