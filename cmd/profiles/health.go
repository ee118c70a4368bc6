package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readyTimeout bounds each readiness ping: a probe must answer before its caller gives up.
const readyTimeout = 2 * time.Second

// readiness says whether this process can do its work: Postgres and ClickHouse both answer.
// /readyz and the gRPC health service ask it.
type readiness struct {
	pool     *pgxpool.Pool
	ch       driver.Conn
	services []string // the names the gRPC health service knows besides ""
	logger   *slog.Logger
}

// check pings each store at once and returns the failures by name ("postgres", "clickhouse").
func (r *readiness) check(ctx context.Context) map[string]error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var (
		mu     sync.Mutex
		failed = map[string]error{}
		wg     sync.WaitGroup
	)
	probe := func(name string, ping func(context.Context) error) {
		wg.Go(func() {
			if err := ping(ctx); err != nil {
				mu.Lock()
				failed[name] = err
				mu.Unlock()
			}
		})
	}
	probe("postgres", r.pool.Ping)
	probe("clickhouse", r.ch.Ping)
	wg.Wait()
	for name, err := range failed {
		r.logger.WarnContext(ctx, "not ready", "component", name, "error", err)
	}
	return failed
}

// healthz answers 200 while the process runs: it checks nothing else, so that an orchestrator
// does not restart a healthy process because a database is down.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when Postgres and ClickHouse answer, else 503 naming what failed (without
// the error text, which is logged).
func (r *readiness) readyz(w http.ResponseWriter, req *http.Request) {
	failed := r.check(req.Context())
	checks := map[string]string{"postgres": "ok", "clickhouse": "ok"}
	for name := range failed {
		checks[name] = "unavailable"
	}
	status, code := "ok", http.StatusOK
	if len(failed) > 0 {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Check implements grpchealth.Checker: the server ("") and each of our services are serving
// exactly when the process is ready.
func (r *readiness) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	known := req.Service == ""
	for _, s := range r.services {
		known = known || req.Service == s
	}
	if !known {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown service"))
	}
	if len(r.check(ctx)) > 0 {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
