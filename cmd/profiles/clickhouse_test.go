package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/poluruprvn/profiles/db/clickhouse"
)

const (
	clickhouseServerBin    = "/usr/sbin/clickhouse-server"
	clickhouseServerConfig = "/etc/clickhouse-server"
)

// privateClickHouse is a clickhouse-server of the test's own: its own ports and data directory,
// run in the foreground as a child process, so that the test may kill it without touching the
// shared server other tests use.
type privateClickHouse struct {
	dir                 string
	tcpPort, httpPort   int
	interserverHTTPPort int
	cmd                 *exec.Cmd
	exited              chan struct{}
}

func startPrivateClickHouse(t *testing.T) *privateClickHouse {
	t.Helper()
	if _, err := os.Stat(clickhouseServerBin); err != nil {
		t.Fatalf("clickhouse-server is not installed at %s (scripts/setup.sh installs it): %v", clickhouseServerBin, err)
	}
	s := &privateClickHouse{dir: t.TempDir()}
	s.tcpPort, s.httpPort, s.interserverHTTPPort = freePort(t), freePort(t), freePort(t)
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		// The log directory must exist, or the server exits at once.
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config, err := os.ReadFile(filepath.Join(clickhouseServerConfig, "config.xml"))
	if err != nil {
		t.Fatalf("read the ClickHouse server config: %v", err)
	}
	users, err := os.ReadFile(filepath.Join(clickhouseServerConfig, "users.xml"))
	if err != nil {
		t.Fatalf("read the ClickHouse users config: %v", err)
	}
	rewritten := string(config)
	for _, r := range []struct{ old, new string }{
		{"<http_port>8123</http_port>", fmt.Sprintf("<http_port>%d</http_port>", s.httpPort)},
		{"<tcp_port>9000</tcp_port>", fmt.Sprintf("<tcp_port>%d</tcp_port>", s.tcpPort)},
		{"<interserver_http_port>9009</interserver_http_port>", fmt.Sprintf("<interserver_http_port>%d</interserver_http_port>", s.interserverHTTPPort)},
		{"<listen_host>::1</listen_host>", ""},
		{"<path>/var/lib/clickhouse/</path>", "<path>" + s.dir + "/data/</path>"},
		{"<tmp_path>/var/lib/clickhouse/tmp/</tmp_path>", "<tmp_path>" + s.dir + "/tmp/</tmp_path>"},
		{"<user_files_path>/var/lib/clickhouse/user_files/</user_files_path>", "<user_files_path>" + s.dir + "/user_files/</user_files_path>"},
		{"<format_schema_path>/var/lib/clickhouse/format_schemas/</format_schema_path>", "<format_schema_path>" + s.dir + "/format_schemas/</format_schema_path>"},
		{"/var/log/clickhouse-server/", s.dir + "/log/"},
	} {
		if !strings.Contains(rewritten, r.old) {
			t.Fatalf("ClickHouse config.xml has no %q to rewrite: the installed server's config changed", r.old)
		}
		rewritten = strings.ReplaceAll(rewritten, r.old, r.new)
	}
	if strings.Contains(rewritten, "/var/lib/clickhouse") {
		t.Fatalf("the private ClickHouse config still points at /var/lib/clickhouse")
	}
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(rewritten), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "users.xml"), users, 0o644); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	t.Cleanup(func() { s.kill(t) })
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// url names database on this server.
func (s *privateClickHouse) url(database string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", s.tcpPort, database)
}

// start runs the server and returns once it answers /ping.
func (s *privateClickHouse) start(t *testing.T) {
	t.Helper()
	out, err := os.OpenFile(filepath.Join(s.dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(clickhouseServerBin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("start private clickhouse-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", s.httpPort))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// /ping answers before the native port finishes its handshakes on a busy machine.
			if strings.HasPrefix(string(body), "Ok.") && s.nativeAnswers() {
				client.CloseIdleConnections()
				return
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("private clickhouse-server exited at start; its output:\n%s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("private clickhouse-server did not answer /ping within 30s; its output:\n%s", s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nativeAnswers reports whether a native-protocol connection (what profiles uses) completes.
func (s *privateClickHouse) nativeAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(ctx, s.url("default"))
	if err != nil {
		return false
	}
	defer conn.Close()
	return conn.Ping(ctx) == nil
}

// kill stops the server abruptly, as a crash would, and waits for the process to end.
func (s *privateClickHouse) kill(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("private clickhouse-server (pid %d) did not die", s.cmd.Process.Pid)
	}
	s.cmd = nil
}

func (s *privateClickHouse) output() string {
	var b strings.Builder
	for _, f := range []string{"stdout.log", "clickhouse-server.err.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, "log", f))
		fmt.Fprintf(&b, "---- %s\n%s\n", f, data)
	}
	return b.String()
}

// TestReadinessFollowsClickHouse stops a (private) ClickHouse under a running serve: /readyz
// and gRPC health turn not-ready naming clickhouse, /healthz stays 200, and all turns ready
// again once ClickHouse is back.
func TestReadinessFollowsClickHouse(t *testing.T) {
	t.Parallel()
	ch := startPrivateClickHouse(t)
	env := testEnv(t)
	env["PROFILES_CLICKHOUSE_URL"] = ch.url("profiles_readiness")
	mustRun(t, env, "migrate") // creates and migrates the ClickHouse database on the private server
	srv := startServe(t, env, hooks{})
	client := httpClient(t)
	health := grpchealth.NewClient(h2cClient(t), srv.base, connect.WithGRPC())
	ctx := context.Background()

	readyz := func() (int, string) { return get(t, client, srv.base+"/readyz") }
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with ClickHouse up = %d %s, want 200", code, body)
	}

	ch.kill(t)
	var body string
	waitFor(t, "/readyz to answer 503 with ClickHouse down", 20*time.Second, func() bool {
		var code int
		code, body = readyz()
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, `"clickhouse":"unavailable"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("/readyz with ClickHouse down = %s, want clickhouse unavailable and postgres ok", body)
	}
	if res, err := health.Check(ctx, &grpchealth.CheckRequest{}); err != nil || res.Status != grpchealth.StatusNotServing {
		t.Errorf("gRPC health with ClickHouse down = %v, %v; want NOT_SERVING", res, err)
	}
	if code, _ := get(t, client, srv.base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with ClickHouse down = %d, want 200: the process itself is fine", code)
	}

	ch.start(t)
	waitFor(t, "/readyz to answer 200 once ClickHouse is back", 30*time.Second, func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	if res, err := health.Check(ctx, &grpchealth.CheckRequest{}); err != nil || res.Status != grpchealth.StatusServing {
		t.Errorf("gRPC health with ClickHouse back = %v, %v; want SERVING", res, err)
	}
}
