package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/spf13/cobra"
)

func newWorkerCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Work River jobs only (no API), to scale job processing out",
		Long: `Work River jobs of the default queue, PROFILES_WORKERS at once, without serving the API. Any
number of worker processes share the queue in Postgres. With PROFILES_WORKER_HTTP_ADDR set it
answers /healthz and /readyz there.

On SIGTERM or SIGINT it stops fetching jobs, lets running ones finish for up to
PROFILES_SHUTDOWN_TIMEOUT (then cancels the rest, which are retried), and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if cfg.Workers < 1 {
				s := settingFor("Workers")
				return s.errorf("0, want 1 or more for profiles worker")
			}
			defer tuneGC(a.getenv)()
			return work(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()))
		},
	}
}

func work(ctx context.Context, cfg Config, logger *slog.Logger) error {
	logger.Info("profiles worker starting", "version", versionString(), cfg.logAttr())
	b, err := openBackends(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer b.close()
	d := newDomain(b)
	jobs, err := newJobRunner(ctx, cfg, b, d, logger)
	if err != nil {
		return err
	}
	stopDebug, err := startDebug(ctx, cfg, logger)
	if err != nil {
		jobs.after()
		return err
	}
	defer stopDebug()
	var (
		srv *http.Server
		ln  net.Listener
	)
	if cfg.WorkerHTTPAddr != "" {
		ln, err = listen(ctx, cfg.WorkerHTTPAddr, logger, "worker health")
		if err != nil {
			jobs.after()
			return err
		}
		srv = newHTTPServer(workerRoutes(&readiness{pool: b.pool, ch: b.ch, logger: logger}, logger, newMetrics(newJobCollector(b.pool))), logger)
	}
	stopBridge, err := startBridge(ctx, cfg, d, logger)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		jobs.after()
		return err
	}
	return runUntilDone(ctx, cfg, logger, srv, ln, jobs, stopBridge)
}
