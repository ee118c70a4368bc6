package main

import (
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/go-chi/chi/v5"

	"github.com/poluruprvn/profiles/auth"
	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/gen/events/v1/eventsv1connect"
	"github.com/poluruprvn/profiles/gen/profiles/v1/profilesv1connect"
	"github.com/poluruprvn/profiles/internal/wire"
)

// services are the Connect handlers of the API. serve.go says which implementation each is.
type services struct {
	profilesSDK profilesv1connect.ProfilesSDKServiceHandler
	profiles    profilesv1connect.ProfilesServiceHandler
	eventsSDK   *events.Handler
}

// serviceNames are the services of the API, for gRPC health and reflection.
var serviceNames = []string{
	profilesv1connect.ProfilesSDKServiceName,
	profilesv1connect.ProfilesServiceName,
	eventsv1connect.EventsSDKServiceName,
}

// routeConfig is what routes needs besides the handlers.
type routeConfig struct {
	authn           *auth.Authenticator
	ready           *readiness
	maxRequestBytes int64
	corsOrigins     []string
	logger          *slog.Logger
	metrics         *metrics
	extra           func(chi.Router) // test routes (hooks.go); nil in production
}

// routes is the whole HTTP surface of `profiles serve`:
//
//	GET  /healthz                              200 while the process runs
//	GET  /readyz                               200 when Postgres and ClickHouse answer, else 503
//	GET  /metrics                              Prometheus metrics
//	POST /profiles.v1.ProfilesSDKService/*     identify, alias: SDK or secret key; CORS
//	POST /events.v1.EventsSDKService/*         track: SDK or secret key; CORS
//	POST /profiles.v1.ProfilesService/*        reads and edits: secret key or JWT
//	POST /grpc.health.v1.Health/*              gRPC health (readiness), no auth
//	POST /grpc.reflection.v1{,alpha}.*/*       server reflection, no auth
//
// Each RPC path speaks Connect, gRPC and gRPC-Web, JSON and binary. Authentication and the
// per-service policy run in the auth interceptor, before any handler; bodies are capped at
// maxRequestBytes.
func routes(svc services, c routeConfig) http.Handler {
	r := chi.NewRouter()
	r.Use(withRequestID, accessLog(c.logger, c.metrics), recoverPanics(c.logger))

	r.Get("/healthz", healthz)
	r.Get("/readyz", c.ready.readyz)
	r.Method(http.MethodGet, "/metrics", c.metrics.handler(c.logger))

	api := connect.WithHandlerOptions(
		connect.WithInterceptors(rpcLogger{}, c.authn.Interceptor()),
		connect.WithReadMaxBytes(int(c.maxRequestBytes)),
		// Most answers are a few dozen bytes: gzip would cost more CPU than it saves.
		connect.WithCompressMinBytes(1024),
		withGzip(),
		connect.WithCodec(wire.JSONCodec{}),
		recoverRPC(c.logger),
	)
	limit := limitBody(c.maxRequestBytes)
	sdk := func(h http.Handler) http.Handler { return sdkCORS(c.corsOrigins)(limit(h)) }
	mount(r, sdk)(profilesv1connect.NewProfilesSDKServiceHandler(svc.profilesSDK, api))
	mount(r, sdk)(events.NewConnectHandler(svc.eventsSDK, api))
	mount(r, limit)(profilesv1connect.NewProfilesServiceHandler(svc.profiles, api))

	open := connect.WithHandlerOptions(connect.WithInterceptors(rpcLogger{}), recoverRPC(c.logger))
	none := func(h http.Handler) http.Handler { return h }
	c.ready.services = serviceNames
	mount(r, none)(grpchealth.NewHandler(c.ready, open))
	reflector := grpcreflect.NewStaticReflector(append([]string{grpchealth.HealthV1ServiceName}, serviceNames...)...)
	mount(r, none)(grpcreflect.NewHandlerV1(reflector, open))
	mount(r, none)(grpcreflect.NewHandlerV1Alpha(reflector, open))

	if c.extra != nil {
		c.extra(r)
	}
	return r
}

// mount returns a function that serves a generated handler on its path prefix, wrapped; it
// takes the (path, handler) pair the generated constructors return.
func mount(r chi.Router, wrap func(http.Handler) http.Handler) func(path string, h http.Handler) {
	return func(path string, h http.Handler) { r.Mount(path, wrap(h)) }
}

// workerRoutes is the HTTP surface of `profiles worker` when PROFILES_WORKER_HTTP_ADDR is set:
// /healthz, /readyz and /metrics only.
func workerRoutes(ready *readiness, logger *slog.Logger, m *metrics) http.Handler {
	r := chi.NewRouter()
	r.Use(withRequestID, accessLog(logger, m), recoverPanics(logger))
	r.Get("/healthz", healthz)
	r.Get("/readyz", ready.readyz)
	r.Method(http.MethodGet, "/metrics", m.handler(logger))
	return r
}
