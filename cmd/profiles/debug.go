package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// startDebug serves Go's profiles on cfg.DebugAddr, apart from the API so that they are never
// reachable through it, until the returned stop is called. An empty address serves nothing.
func startDebug(ctx context.Context, cfg Config, logger *slog.Logger) (stop func(), err error) {
	if cfg.DebugAddr == "" {
		return func() {}, nil
	}
	ln, err := listen(ctx, cfg.DebugAddr, logger, "debug (pprof)")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}
