package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/profiles"
)

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the API on PROFILES_HTTP_ADDR and run River jobs in-process",
		Long: `Serve the Connect, gRPC and gRPC-Web API (HTTP/1.1 and h2c) on PROFILES_HTTP_ADDR, with
/healthz, /readyz, gRPC health and server reflection, and work River jobs in the same process
(PROFILES_WORKERS at once; 0 leaves jobs to 'profiles worker' processes).

Postgres and ClickHouse must be migrated ('profiles migrate'). On SIGTERM or SIGINT it stops
accepting connections, lets in-flight requests and running jobs finish for up to
PROFILES_SHUTDOWN_TIMEOUT, and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			defer tuneGC(a.getenv)()
			return serve(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()))
		},
	}
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	logger.Info("profiles serve starting", "version", versionString(), cfg.logAttr())
	b, err := openBackends(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer b.close()

	verifier, err := auth.NewJWTVerifier(ctx, jwtConfig(cfg, logger))
	if err != nil {
		return fmt.Errorf("JWT settings (PROFILES_JWT_*): %w", err)
	}
	defer verifier.Close()
	keys := auth.NewKeyCache(postgres.NewProjectStore(b.pool), auth.CacheConfig{TTL: cfg.KeyCacheTTL})
	authn := auth.NewAuthenticator(keys, verifier, logger)

	d := newDomain(b)
	jobs, err := newJobRunner(ctx, cfg, b, d, logger)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	// Stopped after the HTTP server has drained: the last requests' events still commit.
	committer := postgres.NewEventCommitter(b.pool, d.batches, postgres.EventCommitterConfig{}, logger)
	committer.Start()
	defer committer.Stop()

	figures, stopFigures := startFigureCache(cfg, b, logger)
	defer stopFigures()

	// The API's handlers: one line each.
	svc := services{
		profilesSDK: profiles.NewSDKHandler(d.identity, logger),
		profiles:    profiles.NewHandler(d.profiles(b, figures), logger),
		eventsSDK:   events.NewHandler(events.NewService(committer), logger),
	}
	handler := routes(svc, routeConfig{
		authn:           authn,
		ready:           &readiness{pool: b.pool, ch: b.ch, logger: logger},
		maxRequestBytes: cfg.MaxRequestBytes,
		corsOrigins:     cfg.CORSOrigins,
		logger:          logger,
		metrics:         newMetrics(newJobCollector(b.pool), newFigureCollector(figures)),
		extra:           hooksFrom(ctx).routes,
	})

	stopDebug, err := startDebug(ctx, cfg, logger)
	if err != nil {
		jobs.after()
		return err
	}
	defer stopDebug()
	ln, err := listen(ctx, cfg.HTTPAddr, logger, "api")
	if err != nil {
		jobs.after()
		return err
	}
	stopBridge, err := startBridge(ctx, cfg, d, logger)
	if err != nil {
		_ = ln.Close()
		jobs.after()
		return err
	}
	return runUntilDone(ctx, cfg, logger, newHTTPServer(handler, logger), ln, jobs, stopBridge)
}

// startFigureCache makes the event-figure cache and starts the listener that keeps it live, or
// returns nil when PROFILES_FIGURE_CACHE_ENTRIES is 0. stop ends the listener.
func startFigureCache(cfg Config, b *backends, logger *slog.Logger) (cache *profiles.FigureCache, stop func()) {
	if cfg.FigureCacheEntries == 0 {
		return nil, func() {}
	}
	cache = profiles.NewFigureCache(cfg.FigureCacheEntries)
	l := postgres.NewFigureListener(b.pool, cache, logger)
	l.Start()
	return cache, l.Stop
}

// jwtConfig maps the PROFILES_JWT_* settings onto auth's.
func jwtConfig(cfg Config, logger *slog.Logger) auth.JWTConfig {
	return auth.JWTConfig{
		HS256Secret:  cfg.JWTHS256Secret,
		JWKSFile:     cfg.JWTJWKSFile,
		JWKSURL:      cfg.JWTJWKSURL,
		Issuer:       cfg.JWTIssuer,
		Audience:     cfg.JWTAudience,
		ProjectClaim: cfg.JWTProjectClaim,
		Leeway:       cfg.JWTLeeway,
		Logger:       logger,
	}
}

// runUntilDone serves HTTP on ln (when srv is not nil) and works River jobs until ctx is done or
// the server fails, then shuts both down gracefully: the listener closes at once, in-flight
// requests and running jobs get cfg.ShutdownTimeout to finish. Jobs still running at four
// fifths of it are cancelled (and retried later), so that they can return before the end.
// stopBridge (the NATS bridge's Stop, or a no-op) runs before River stops: the bridge's writes
// insert River jobs through the same client.
func runUntilDone(ctx context.Context, cfg Config, logger *slog.Logger, srv *http.Server, ln net.Listener, jobs *jobRunner, stopBridge func()) error {
	if err := jobs.start(ctx); err != nil {
		stopBridge()
		if ln != nil {
			_ = ln.Close()
		}
		jobs.after()
		return fmt.Errorf("start river: %w", err)
	}
	serveErr := make(chan error, 1)
	if srv != nil {
		go func() { serveErr <- srv.Serve(ln) }()
	}

	var failed error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests and running jobs", "timeout", cfg.ShutdownTimeout.String())
	case failed = <-serveErr:
		logger.Error("http server failed; shutting down", "error", failed)
		failed = fmt.Errorf("http server: %w", failed)
	}

	begin := time.Now()
	hard := begin.Add(cfg.ShutdownTimeout)
	soft := begin.Add(cfg.ShutdownTimeout * 4 / 5)
	base := context.WithoutCancel(ctx)
	var httpErr, riverErr error
	var wg sync.WaitGroup
	if srv != nil {
		wg.Go(func() {
			sctx, cancel := context.WithDeadline(base, hard)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
				httpErr = fmt.Errorf("requests still in flight after %s: %w", cfg.ShutdownTimeout, err)
			}
		})
	}
	wg.Go(func() {
		stopBridge()
		riverErr = jobs.stop(base, soft, hard, logger)
	})
	wg.Wait()
	if srv != nil && failed == nil {
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			failed = err
		}
	}
	if err := errors.Join(failed, httpErr, riverErr); err != nil {
		return err
	}
	logger.Info("stopped", "took", time.Since(begin).Round(time.Millisecond).String())
	return nil
}
