package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
)

// requestIDHeader carries a request's id in both directions: a caller's well-formed id is kept,
// otherwise one is made, and the response always says which it was.
const requestIDHeader = "X-Request-Id"

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,128}$`)

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id, in its context (so every log line of the request
// names it) and in the response header.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !requestIDRE.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// accessRecord is filled while a request runs and logged once when it ends. The RPC interceptor
// adds the procedure and the Connect code, which an HTTP status alone does not tell (gRPC
// answers 200 with the code in a trailer).
type accessRecord struct {
	procedure string
	code      string
}

type accessKey struct{}

// accessLog logs one line per request, and counts it in m: method, path, procedure and code for
// RPCs, status, duration. Never a header value or a body: Authorization holds keys, bodies hold
// traits. Probes (/healthz, /readyz, /metrics, gRPC health) log at debug so that they do not
// drown the log.
func accessLog(logger *slog.Logger, m *metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &accessRecord{}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), accessKey{}, rec)))

			took := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			m.observe(r.URL.Path, rec, status, took)
			level := slog.LevelInfo
			switch {
			case status >= 500 || isServerCode(rec.code):
				level = slog.LevelError
			case status >= 400 || (rec.code != "" && rec.code != "ok"):
				level = slog.LevelWarn
			case isProbe(r.URL.Path):
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000),
				slog.String("remote", r.RemoteAddr),
				slog.String("proto", r.Proto),
			}
			if rec.procedure != "" {
				attrs = append(attrs, slog.String("procedure", rec.procedure), slog.String("code", rec.code))
			}
			logger.LogAttrs(r.Context(), level, "request", attrs...)
		})
	}
}

func isProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics" || strings.HasPrefix(path, "/grpc.health.v1.Health/")
}

// isServerCode reports Connect codes that mean the server failed, not the caller.
func isServerCode(code string) bool {
	switch code {
	case "internal", "unknown", "unavailable", "data_loss", "unimplemented":
		return true
	}
	return false
}

// statusWriter remembers the status written. It forwards Flush and exposes the wrapped writer,
// so that streaming RPCs and http.ResponseController keep working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rpcLogger is the outermost Connect interceptor: it notes the procedure and the code the call
// ended with in the request's access record.
type rpcLogger struct{}

func (rpcLogger) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		noteRPC(ctx, req.Spec().Procedure, err)
		return res, err
	}
}

func (rpcLogger) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (rpcLogger) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		noteRPC(ctx, conn.Spec().Procedure, err)
		return err
	}
}

func noteRPC(ctx context.Context, procedure string, err error) {
	rec, ok := ctx.Value(accessKey{}).(*accessRecord)
	if !ok {
		return
	}
	rec.procedure = procedure
	rec.code = "ok"
	if err != nil {
		rec.code = connect.CodeOf(err).String()
	}
}

// recoverPanics turns a panic outside the Connect handlers into a logged 500. (Inside them,
// connect.WithRecover answers internal; see routes.go.)
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler { // net/http's way to abort a response: not ours to catch
					panic(p)
				}
				logger.ErrorContext(r.Context(), "panic", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// recoverRPC is connect.WithRecover's handler: log the panic, answer internal without details.
func recoverRPC(logger *slog.Logger) connect.HandlerOption {
	return connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
		logger.ErrorContext(ctx, "panic", "procedure", spec.Procedure, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	})
}

// limitBody caps a request body at limit bytes plus framing. Connect also checks each message
// against the limit (connect.WithReadMaxBytes); either way the caller gets resource_exhausted.
func limitBody(limit int64) func(http.Handler) http.Handler {
	const framing = 4 << 10 // gRPC envelopes and end-of-stream messages
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, limit+framing)
			next.ServeHTTP(w, r)
		})
	}
}

// sdkCORS lets browser pages on the configured origins call the SDK services with Connect,
// gRPC-Web and an Authorization header. Credentials (cookies) are never allowed: SDK calls
// authenticate with a publishable key in Authorization.
func sdkCORS(origins []string) func(http.Handler) http.Handler {
	c := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization", requestIDHeader),
		ExposedHeaders: append(connectcors.ExposedHeaders(), requestIDHeader),
		MaxAge:         7200, // seconds; browsers cap it lower anyway
	})
	return func(next http.Handler) http.Handler {
		h := c.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				sortRequestHeaders(r.Header)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// sortRequestHeaders rewrites Access-Control-Request-Headers as the Fetch standard has browsers
// send it (lowercase, sorted, no spaces), the only form rs/cors accepts: a preflight from a
// client or proxy that lists them otherwise is then answered too.
func sortRequestHeaders(h http.Header) {
	values, ok := h["Access-Control-Request-Headers"]
	if !ok {
		return
	}
	var names []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	h["Access-Control-Request-Headers"] = []string{strings.Join(slices.Compact(names), ",")}
}

// newHTTPServer serves h over HTTP/1.1 and unencrypted HTTP/2 (h2c), which gRPC clients
// without TLS need. There is no read or write timeout: streams may last; slow headers are cut.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// listen binds addr, reports the bound address to a test hook, and logs it.
func listen(ctx context.Context, addr string, logger *slog.Logger, what string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	logger.Info("listening", "what", what, "addr", ln.Addr().String())
	if h := hooksFrom(ctx); h.listening != nil {
		h.listening(ln.Addr())
	}
	return ln, nil
}
