package clickhouse

import (
	"strings"
	"testing"
	"time"
)

func TestParseURLDefaults(t *testing.T) {
	t.Parallel()
	opts, err := parseURL("clickhouse://127.0.0.1:9000/profiles")
	if err != nil {
		t.Fatalf("parseURL: %v", err)
	}
	if got := opts.Auth.Database; got != "profiles" {
		t.Errorf("database = %q, want profiles", got)
	}
	if got := opts.Settings["max_execution_time"]; got != defaultMaxExecutionTime {
		t.Errorf("max_execution_time = %v, want %d", got, defaultMaxExecutionTime)
	}
	if opts.DialTimeout != defaultDialTimeout || opts.ReadTimeout != defaultReadTimeout {
		t.Errorf("timeouts = %v/%v, want %v/%v", opts.DialTimeout, opts.ReadTimeout, defaultDialTimeout, defaultReadTimeout)
	}
	if opts.MaxOpenConns != defaultMaxOpenConns || opts.MaxIdleConns != defaultMaxIdleConns {
		t.Errorf("pool = %d open/%d idle, want %d/%d", opts.MaxOpenConns, opts.MaxIdleConns, defaultMaxOpenConns, defaultMaxIdleConns)
	}
}

func TestParseURLOverrides(t *testing.T) {
	t.Parallel()
	opts, err := parseURL("clickhouse://alice:s3cret@db.internal:9440/events?max_execution_time=60&dial_timeout=2s&max_open_conns=3&max_threads=2")
	if err != nil {
		t.Fatalf("parseURL: %v", err)
	}
	if opts.Auth.Username != "alice" || opts.Auth.Password != "s3cret" {
		t.Errorf("auth = %q/%q, want alice/s3cret", opts.Auth.Username, opts.Auth.Password)
	}
	if got := opts.Addr; len(got) != 1 || got[0] != "db.internal:9440" {
		t.Errorf("addr = %v, want [db.internal:9440]", got)
	}
	if got := opts.Settings["max_execution_time"]; got != 60 {
		t.Errorf("max_execution_time = %v, want the URL's 60", got)
	}
	if got := opts.Settings["max_threads"]; got != 2 {
		t.Errorf("max_threads = %v, want 2 passed through as a setting", got)
	}
	if opts.DialTimeout != 2*time.Second {
		t.Errorf("dial timeout = %v, want 2s", opts.DialTimeout)
	}
	if opts.MaxOpenConns != 3 || opts.MaxIdleConns != 3 {
		t.Errorf("pool = %d open/%d idle, want 3/3 (idle never above open)", opts.MaxOpenConns, opts.MaxIdleConns)
	}
	if opts.Auth.Database != "events" {
		t.Errorf("database = %q, want events", opts.Auth.Database)
	}
}

func TestParseURLNoDatabaseMeansDefault(t *testing.T) {
	t.Parallel()
	opts, err := parseURL("clickhouse://127.0.0.1:9000")
	if err != nil {
		t.Fatalf("parseURL: %v", err)
	}
	if opts.Auth.Database != "default" {
		t.Errorf("database = %q, want default", opts.Auth.Database)
	}
}

func TestParseURLRefuses(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"http://127.0.0.1:8123/profiles", // HTTP does not work with 18.16
		"https://127.0.0.1:8443/profiles",
		"postgres://127.0.0.1:5432/profiles",
		"clickhouse:///profiles",
		"clickhouse://u:hunter2@[::1/profiles", // unparsable; the password must not leak
	} {
		_, err := parseURL(raw)
		if err == nil {
			t.Errorf("parseURL(%q) = nil error, want a refusal", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseURL(%q) error %q shows the password", raw, err)
		}
	}
}

func TestCheckIdentifier(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"profiles", "test_abc_123", "_x"} {
		if err := checkIdentifier(ok); err != nil {
			t.Errorf("checkIdentifier(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "1db", "a-b", "a`b", "a b", "a;DROP", strings.Repeat("a", 129)} {
		if err := checkIdentifier(bad); err == nil {
			t.Errorf("checkIdentifier(%q) = nil, want an error", bad)
		}
	}
}
