package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func defaultConfig() Config {
	return Config{
		DatabaseURL:        "postgres://postgres@127.0.0.1:5432/profiles?sslmode=disable",
		ClickHouseURL:      "clickhouse://127.0.0.1:9000/profiles",
		PGMaxConns:         32,
		HTTPAddr:           "127.0.0.1:8080",
		MaxRequestBytes:    1 << 20,
		CORSOrigins:        []string{"*"},
		ShutdownTimeout:    30 * time.Second,
		LogLevel:           "info",
		LogFormat:          "json",
		JWTProjectClaim:    "project_id",
		KeyCacheTTL:        10 * time.Second,
		FigureCacheEntries: 100_000,
		Workers:            500,
		JobTimeout:         time.Minute,
		JobRetention:       10 * time.Minute,
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := loadConfig(getenvFrom(nil), nil)
	if err != nil {
		t.Fatalf("loadConfig with an empty environment: %v", err)
	}
	if diff := cmp.Diff(defaultConfig(), got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PROFILES_DATABASE_URL":         "postgresql://app:pw@db.internal:6432/prod",
		"PROFILES_CLICKHOUSE_URL":       "clickhouse://ch.internal:9000/analytics",
		"PROFILES_PG_MAX_CONNS":         "64",
		"PROFILES_HTTP_ADDR":            "0.0.0.0:9090",
		"PROFILES_WORKER_HTTP_ADDR":     ":9091",
		"PROFILES_MAX_REQUEST_BYTES":    "2048",
		"PROFILES_CORS_ORIGINS":         "https://a.example,https://b.example:8443",
		"PROFILES_SHUTDOWN_TIMEOUT":     "45s",
		"PROFILES_LOG_LEVEL":            "debug",
		"PROFILES_LOG_FORMAT":           "text",
		"PROFILES_JWT_HS256_SECRET":     strings.Repeat("s", 32),
		"PROFILES_JWT_ISSUER":           "https://issuer.example",
		"PROFILES_JWT_AUDIENCE":         "profiles",
		"PROFILES_JWT_PROJECT_CLAIM":    "tenant",
		"PROFILES_JWT_LEEWAY":           "30s",
		"PROFILES_KEY_CACHE_TTL":        "1s",
		"PROFILES_FIGURE_CACHE_ENTRIES": "5000",
		"PROFILES_WORKERS":              "1000",
		"PROFILES_JOB_TIMEOUT":          "20s",
		"PROFILES_JOB_RETENTION":        "1h",
		"PROFILES_NATS_URL":             "nats://127.0.0.1:4222",
	}
	got, err := loadConfig(getenvFrom(env), nil)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		DatabaseURL:        "postgresql://app:pw@db.internal:6432/prod",
		ClickHouseURL:      "clickhouse://ch.internal:9000/analytics",
		PGMaxConns:         64,
		HTTPAddr:           "0.0.0.0:9090",
		WorkerHTTPAddr:     ":9091",
		MaxRequestBytes:    2048,
		CORSOrigins:        []string{"https://a.example", "https://b.example:8443"},
		ShutdownTimeout:    45 * time.Second,
		LogLevel:           "debug",
		LogFormat:          "text",
		JWTHS256Secret:     strings.Repeat("s", 32),
		JWTIssuer:          "https://issuer.example",
		JWTAudience:        "profiles",
		JWTProjectClaim:    "tenant",
		JWTLeeway:          30 * time.Second,
		KeyCacheTTL:        time.Second,
		FigureCacheEntries: 5000,
		Workers:            1000,
		JobTimeout:         20 * time.Second,
		JobRetention:       time.Hour,
		NATSURL:            "nats://127.0.0.1:4222",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config from the environment (-want +got):\n%s", diff)
	}
}

func TestConfigFlagOverridesEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFILES_HTTP_ADDR": "0.0.0.0:1111", "PROFILES_LOG_LEVEL": "warn"}
	r := mustRun(t, env, "config", "--http-addr", "127.0.0.1:2222", "--workers=7")
	for _, want := range []string{
		"PROFILES_HTTP_ADDR=127.0.0.1:2222\n", // the flag beats the environment
		"PROFILES_LOG_LEVEL=warn\n",           // the environment beats the default
		"PROFILES_WORKERS=7\n",
		"PROFILES_LOG_FORMAT=json\n", // the default
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("profiles config output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestConfigRefusesBadValues pins that every refusal names the setting, by variable and flag,
// and never echoes a secret.
func TestConfigRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env, value string
		want       string // also in the message
	}{
		{"PROFILES_DATABASE_URL", "mysql://root:hunter2@db/x", `scheme "mysql"`},
		{"PROFILES_DATABASE_URL", "host=db password=hunter2", "scheme"},
		{"PROFILES_CLICKHOUSE_URL", "http://127.0.0.1:8123/profiles", `scheme "http"`},
		{"PROFILES_CLICKHOUSE_URL", "clickhouse://127.0.0.1:9000/bad-name", "letters, digits and _"},
		{"PROFILES_HTTP_ADDR", "8080", "host:port"},
		{"PROFILES_HTTP_ADDR", "127.0.0.1:99999", "port"},
		{"PROFILES_WORKER_HTTP_ADDR", "nope", "host:port"},
		{"PROFILES_PG_MAX_CONNS", "many", "whole number"},
		{"PROFILES_PG_MAX_CONNS", "0", "1 or more"},
		{"PROFILES_MAX_REQUEST_BYTES", "-1", "want 1 to"},
		{"PROFILES_CORS_ORIGINS", "example.com", "origins such as"},
		{"PROFILES_SHUTDOWN_TIMEOUT", "30", "duration"},
		{"PROFILES_SHUTDOWN_TIMEOUT", "-5s", "more than 0"},
		{"PROFILES_LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"PROFILES_LOG_FORMAT", "xml", "json or text"},
		{"PROFILES_JWT_HS256_SECRET", "hunter2", "32 bytes"},
		{"PROFILES_JWT_JWKS_URL", "ftp://keys.example/jwks", `scheme "ftp"`},
		{"PROFILES_JWT_JWKS_FILE", "/etc/jwks.json", "PROFILES_JWT_AUDIENCE"},
		{"PROFILES_JWT_LEEWAY", "1h", "0s to 5m"},
		{"PROFILES_KEY_CACHE_TTL", "soon", "duration"},
		{"PROFILES_WORKERS", "-3", "0 to 10000"},
		{"PROFILES_JOB_TIMEOUT", "0s", "more than 0"},
		{"PROFILES_JOB_RETENTION", "forever", "duration"},
		{"PROFILES_NATS_URL", "http://127.0.0.1:4222", `scheme "http"`},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, map[string]string{tc.env: tc.value}, "config")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tc.env, "PROFILES_")), "_", "-")
			for _, want := range []string{tc.env, flag, tc.want} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("error lacks %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("error shows the secret:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestConfigRefusesBadFlagValue(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "config", "--log-format", "yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "PROFILES_LOG_FORMAT (--log-format)") {
		t.Errorf("exit %d, stderr %q; want 1 naming PROFILES_LOG_FORMAT (--log-format)", r.code, r.stderr)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 40)
	env := map[string]string{
		"PROFILES_DATABASE_URL":     "postgres://app:pgpassword@db:5432/profiles",
		"PROFILES_CLICKHOUSE_URL":   "clickhouse://app:chpassword@ch:9000/profiles",
		"PROFILES_NATS_URL":         "nats://app:natspassword@nats:4222",
		"PROFILES_JWT_HS256_SECRET": secret,
	}
	r := mustRun(t, env, "config")
	for _, leaked := range []string{"pgpassword", "chpassword", "natspassword", secret} {
		if strings.Contains(r.stdout, leaked) {
			t.Errorf("profiles config shows %q:\n%s", leaked, r.stdout)
		}
	}
	for _, want := range []string{
		"PROFILES_DATABASE_URL=postgres://app:xxxxx@db:5432/profiles\n",
		"PROFILES_CLICKHOUSE_URL=clickhouse://app:xxxxx@ch:9000/profiles\n",
		"PROFILES_JWT_HS256_SECRET=[redacted]\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("profiles config lacks %q:\n%s", want, r.stdout)
		}
	}

	cfg, err := loadConfig(getenvFrom(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	newLogger(cfg, &logs).Info("start", cfg.logAttr())
	for _, leaked := range []string{"pgpassword", "chpassword", "natspassword", secret} {
		if strings.Contains(logs.String(), leaked) {
			t.Errorf("config log line shows %q:\n%s", leaked, logs.String())
		}
	}
}

// TestConfigTable pins that every setting is documented, in --help and in the README table,
// which is exactly what config --markdown prints.
func TestConfigTable(t *testing.T) {
	t.Parallel()
	help := mustRun(t, nil, "config", "--help").stdout
	table := mustRun(t, nil, "config", "--markdown").stdout
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range strings.Split(strings.TrimSpace(table), "\n") {
		if !strings.Contains(string(readme), row+"\n") {
			t.Errorf("README.md lacks this row of profiles config --markdown (paste the command's output there):\n%s", row)
		}
	}
	for _, s := range settings() {
		if s.help == "" {
			t.Errorf("%s has no help tag", s.field)
		}
		if !strings.Contains(help, s.env) {
			t.Errorf("profiles config --help does not list %s", s.env)
		}
		if !strings.Contains(table, "| `"+s.env+"` | `--"+s.flag+"` |") {
			t.Errorf("profiles config --markdown has no row for %s", s.env)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	if r := mustRun(t, nil, "version"); !strings.HasPrefix(r.stdout, "profiles ") {
		t.Errorf("profiles version = %q, want it to start with \"profiles \"", r.stdout)
	}
	if r := mustRun(t, nil, "version", "--json"); !strings.Contains(r.stdout, `"go":"go1.`) {
		t.Errorf("profiles version --json = %q, want a go field", r.stdout)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"nonsense"},
		{"serve", "--no-such-flag"},
		{"projects", "create"},
		{"keys", "list"},
	} {
		if r := runCLI(t, nil, args...); r.code != 2 {
			t.Errorf("profiles %s: exit %d, want 2; stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
