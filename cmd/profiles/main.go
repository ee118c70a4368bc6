// Command profiles is the Profiles service: `profiles serve` runs the API and the job runner,
// `profiles worker` only the jobs, `profiles migrate` the schemas. See root.go.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
