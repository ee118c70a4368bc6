package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/poluruprvn/profiles/bridge"
)

// startBridge starts the NATS identify/alias bridge when PROFILES_NATS_URL is set, and returns
// the function that stops it (never nil; a no-op when the bridge is off). Call it before River
// stops: each message it applies inserts a River job through the same client. A configured but
// unreachable NATS fails the process at start, like Postgres and ClickHouse do.
func startBridge(ctx context.Context, cfg Config, d *domain, logger *slog.Logger) (stop func(), err error) {
	if cfg.NATSURL == "" {
		return func() {}, nil
	}
	b := bridge.New(d.identity, bridge.Config{
		URL: cfg.NATSURL,
		// The bridge drains first, then River gets the rest of the shutdown time.
		DrainTimeout: cfg.ShutdownTimeout / 4,
		Logger:       logger.With("component", "nats-bridge"),
	})
	if err := b.Start(ctx); err != nil {
		return nil, fmt.Errorf("PROFILES_NATS_URL: %w", err)
	}
	return b.Stop, nil
}
