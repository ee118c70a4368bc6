package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/pgtest"
)

// result is what one in-process run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary in-process with exactly env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, args, getenvFrom(env), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// mustRun is runCLI that fails the test unless the command exits 0.
func mustRun(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("profiles %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// syncBuffer is a bytes.Buffer that a running server and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is the environment of a serve or CLI test: its own migrated Postgres database and
// ClickHouse database, a free port, quick shutdown.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	conn, chURL := chtest.NewURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := clickhouse.Migrate(ctx, conn); err != nil {
		t.Fatalf("migrate test ClickHouse database: %v", err)
	}
	return map[string]string{
		"PROFILES_DATABASE_URL":     pgtest.NewURL(t),
		"PROFILES_CLICKHOUSE_URL":   chURL,
		"PROFILES_HTTP_ADDR":        "127.0.0.1:0",
		"PROFILES_LOG_LEVEL":        "debug",
		"PROFILES_SHUTDOWN_TIMEOUT": "20s",
		"PROFILES_PG_MAX_CONNS":     "8",
		"PROFILES_WORKERS":          "10",
	}
}

// freshClickHouseURL names a ClickHouse database that does not exist yet on the shared server,
// dropped when the test ends.
func freshClickHouseURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PROFILES_CLICKHOUSE_URL")
	if base == "" {
		base = chtest.DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PROFILES_CLICKHOUSE_URL: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_cmd_" + hex.EncodeToString(b[:])
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		u.Path = "/default"
		conn, err := clickhouse.Open(ctx, u.String())
		if err != nil {
			t.Errorf("ClickHouse at %s: drop %s: %v", u.Host, name, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop ClickHouse database %s: %v", name, err)
		}
	})
	return u.String()
}

// server is a `profiles serve` (or worker) running in-process.
type server struct {
	addr   string // host:port it bound
	base   string // http://addr
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
}

// start runs `profiles args...` with env until the test ends, and returns once it listens.
func start(t *testing.T, env map[string]string, h hooks, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan net.Addr, 1)
	h.listening = func(a net.Addr) { bound <- a }
	s := &server{logs: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- run(withHooks(ctx, h), args, getenvFrom(env), io.Discard, s.logs) }()
	t.Cleanup(func() {
		if code := s.stop(t); code != 0 {
			t.Errorf("profiles %s exited %d after the test, want 0; logs:\n%s", args[0], code, s.logs)
		}
	})
	select {
	case a := <-bound:
		s.addr = a.String()
		s.base = "http://" + s.addr
	case code := <-s.done:
		s.done <- code
		t.Fatalf("profiles %s exited %d before listening; logs:\n%s", args[0], code, s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("profiles %s did not listen within 30s; logs:\n%s", args[0], s.logs)
	}
	return s
}

func startServe(t *testing.T, env map[string]string, h hooks) *server {
	t.Helper()
	return start(t, env, h, "serve")
}

// stop cancels the server's context (SIGTERM in production) and returns its exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(60 * time.Second):
			s.code = -1
			t.Errorf("server did not stop within 60s; logs:\n%s", s.logs)
		}
	})
	return s.code
}

// get fetches path and returns status and body.
func get(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpClient is a plain HTTP/1.1 client whose connections close with the test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do to a plaintext server.
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
