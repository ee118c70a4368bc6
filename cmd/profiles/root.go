package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// run is the whole program. main gives it the process's arguments, environment and output;
// tests give it their own and drive it in-process. Cancelling ctx (SIGINT or SIGTERM in main)
// asks a running serve or worker to shut down gracefully. It returns the exit code: 0 on
// success, 2 for a command line it cannot parse, 1 for any other error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root := newRootCmd(&app{getenv: getenv})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "profiles: %v\n", err)
	var usage usageError
	// cobra has no error type for an unknown subcommand or a missing required flag, only text.
	msg := err.Error()
	if errors.As(err, &usage) || strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "required flag") {
		fmt.Fprintln(stderr, "Run 'profiles --help' for usage.")
		return 2
	}
	return 1
}

// app is what every command shares: where settings come from.
type app struct {
	getenv func(string) string
}

// config loads the settings for cmd: the environment, overridden by flags given on its command
// line.
func (a *app) config(cmd *cobra.Command) (Config, error) {
	return loadConfig(a.getenv, cmd.Flags())
}

// usageError is a command line that cobra could not parse.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "profiles",
		Short: "Profiles: the identity and trait service",
		Long: `Profiles resolves who a user is (identify, alias), keeps their traits, and answers reads about them.

Every setting comes from a PROFILES_* environment variable or the flag of the same name;
'profiles config --help' lists them.

  profiles migrate          create the databases if missing and apply every migration
  profiles projects demo    create a demo project (once) and print its keys
  profiles serve            serve the API on PROFILES_HTTP_ADDR and run jobs`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// Every command that reads settings takes them as flags too; version and help do not.
	for _, cmd := range []*cobra.Command{
		newServeCmd(a), newWorkerCmd(a), newMigrateCmd(a), newProjectsCmd(a), newKeysCmd(a), newConfigCmd(a), newBenchCmd(a), newSeedCmd(a),
	} {
		addConfigFlags(cmd.PersistentFlags())
		root.AddCommand(cmd)
	}
	root.AddCommand(newVersionCmd())
	// A wrong number of arguments is a usage error too.
	wrapArgs(root)
	return root
}

// wrapArgs marks argument-count errors of cmd and its children as usage errors.
func wrapArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		wrapArgs(sub)
	}
}
