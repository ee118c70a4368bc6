package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/poluruprvn/profiles/db/postgres"
)

// envPrefix starts every setting's environment variable.
const envPrefix = "PROFILES_"

// Config is every setting of the binary, filled once per command from the environment and then
// from flags (a flag wins). Each field's tags are the whole documentation of a setting:
//
//	env        the variable name after PROFILES_; the flag is the same name in kebab case
//	envDefault the default, which works on a development machine (scripts/setup.sh)
//	help       one line for `profiles config --help` and the README's table
//	redact     "url" hides a URL's password, "secret" hides the whole value, in logs and output
//
// `profiles config --markdown` prints the table for the README.
type Config struct {
	DatabaseURL   string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/profiles?sslmode=disable" redact:"url" help:"Postgres URL (postgres:// or postgresql://); migrate creates the database if it is missing"`
	ClickHouseURL string `env:"CLICKHOUSE_URL" envDefault:"clickhouse://127.0.0.1:9000/profiles" redact:"url" help:"ClickHouse native-protocol URL clickhouse://[user[:password]@]host:9000/database; migrate creates the database if it is missing"`
	PGMaxConns    int    `env:"PG_MAX_CONNS" envDefault:"32" help:"most Postgres connections one process opens"`

	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080" help:"host:port serve listens on (Connect, gRPC and gRPC-Web over HTTP/1.1 and h2c)"`
	WorkerHTTPAddr  string        `env:"WORKER_HTTP_ADDR" envDefault:"" help:"host:port where worker answers /healthz and /readyz; empty: no listener"`
	DebugAddr       string        `env:"DEBUG_ADDR" envDefault:"" help:"host:port serving Go's /debug/pprof/ profiles (keep it private); empty: off"`
	MaxRequestBytes int64         `env:"MAX_REQUEST_BYTES" envDefault:"1048576" help:"largest request message in bytes; larger ones get resource_exhausted"`
	CORSOrigins     []string      `env:"CORS_ORIGINS" envDefault:"*" envSeparator:"," help:"comma-separated origins browsers may call the SDK services from; * for any"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s" help:"on SIGTERM, how long in-flight requests and running jobs get to finish before they are cancelled"`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json" help:"json or text"`

	JWTHS256Secret  string        `env:"JWT_HS256_SECRET" redact:"secret" help:"shared secret (32 bytes or more) for HS256 JWTs; empty: HS256 off"`
	JWTJWKSFile     string        `env:"JWT_JWKS_FILE" help:"JSON Web Key Set file with RS256/ES256 public keys; needs issuer and audience"`
	JWTJWKSURL      string        `env:"JWT_JWKS_URL" redact:"url" help:"JWKS URL (https, or http to a loopback host); needs issuer and audience"`
	JWTIssuer       string        `env:"JWT_ISSUER" help:"required iss claim; empty: not checked (HS256 only)"`
	JWTAudience     string        `env:"JWT_AUDIENCE" help:"required aud claim; empty: not checked (HS256 only)"`
	JWTProjectClaim string        `env:"JWT_PROJECT_CLAIM" envDefault:"project_id" help:"claim that names the caller's project"`
	JWTLeeway       time.Duration `env:"JWT_LEEWAY" envDefault:"0s" help:"clock skew allowed on exp, nbf and iat (at most 5m)"`
	KeyCacheTTL     time.Duration `env:"KEY_CACHE_TTL" envDefault:"10s" help:"how long an API key lookup is reused; also how long a revoked key keeps working on other processes"`

	FigureCacheEntries int `env:"FIGURE_CACHE_ENTRIES" envDefault:"100000" help:"profiles whose event figures serve keeps between their events (about 200 bytes each); 0: every Get asks ClickHouse"`

	Workers      int           `env:"WORKERS" envDefault:"500" help:"River jobs worked at once per process; 0 makes serve run no jobs (worker needs 1 or more)"`
	JobTimeout   time.Duration `env:"JOB_TIMEOUT" envDefault:"1m" help:"longest one job may run before its context is cancelled; stuck jobs are rescued after 10 times this"`
	JobRetention time.Duration `env:"JOB_RETENTION" envDefault:"10m" help:"how long completed jobs stay in river_job"`

	NATSURL string `env:"NATS_URL" redact:"url" help:"NATS server for the optional identify/alias bridge (nats://host:4222); empty: bridge off"`
}

// setting describes one Config field.
type setting struct {
	field  string // Go field name
	env    string // PROFILES_...
	flag   string // kebab-case flag name
	def    string
	help   string
	redact string // "", "url" or "secret"
}

// settings lists Config's fields in declaration order.
func settings() []setting {
	t := reflect.TypeFor[Config]()
	out := make([]setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		out = append(out, setting{
			field:  f.Name,
			env:    envPrefix + name,
			flag:   strings.ReplaceAll(strings.ToLower(name), "_", "-"),
			def:    f.Tag.Get("envDefault"),
			help:   f.Tag.Get("help"),
			redact: f.Tag.Get("redact"),
		})
	}
	return out
}

// addConfigFlags adds one flag per setting. A flag only counts when given on the command line,
// so it overrides the environment and the environment overrides the default it shows.
func addConfigFlags(fs *pflag.FlagSet) {
	for _, s := range settings() {
		usage := s.help + " (" + s.env + ")"
		if s.redact == "secret" {
			usage += "; prefer the environment: flags show in ps"
		}
		fs.String(s.flag, s.def, usage)
	}
}

// loadConfig fills a Config from getenv and then from the flags set on the command line, and
// validates it. Every error names the setting (environment variable and flag) it is about. An
// empty variable counts as unset.
func loadConfig(getenv func(string) string, flags *pflag.FlagSet) (Config, error) {
	environ := map[string]string{}
	for _, s := range settings() {
		if v := getenv(s.env); v != "" {
			environ[s.env] = v
		}
		if flags == nil {
			continue
		}
		if f := flags.Lookup(s.flag); f != nil && f.Changed {
			environ[s.env] = f.Value.String()
		}
	}
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ, Prefix: envPrefix}); err != nil {
		return Config{}, explainEnvError(err, environ)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// explainEnvError rewrites caarlos0/env's errors, which name Go fields, to name settings.
func explainEnvError(err error, environ map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	byField := map[string]setting{}
	for _, s := range settings() {
		byField[s.field] = s
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			errs = append(errs, e)
			continue
		}
		s, ok := byField[pe.Name]
		if !ok {
			errs = append(errs, e)
			continue
		}
		want := "a valid value"
		switch pe.Type {
		case reflect.TypeFor[time.Duration]():
			want = "a duration such as 500ms, 30s or 2m"
		case reflect.TypeFor[int](), reflect.TypeFor[int64]():
			want = "a whole number"
		}
		errs = append(errs, s.errorf("%s, want %s", shown(s, environ[s.env]), want))
	}
	return errors.Join(errs...)
}

// shown quotes a value for an error message, unless it is secret.
func shown(s setting, v string) string {
	if s.redact != "" {
		return "the value given"
	}
	return strconv.Quote(v)
}

// settingFor returns the setting of a Config field; it panics on a name that is not one.
func settingFor(field string) setting {
	for _, s := range settings() {
		if s.field == field {
			return s
		}
	}
	panic("no Config field " + field)
}

func (s setting) errorf(format string, args ...any) error {
	return fmt.Errorf("%s (--%s): %s", s.env, s.flag, fmt.Sprintf(format, args...))
}

var clickhouseDatabaseRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// validate checks every setting and reports all problems at once, each naming its setting.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, settingFor(field).errorf(format, args...))
	}

	if err := checkURL(c.DatabaseURL, "postgres", "postgresql"); err != nil {
		bad("DatabaseURL", "%v, want postgres://user@host:5432/database", err)
	}
	if err := checkURL(c.ClickHouseURL, "clickhouse", "tcp"); err != nil {
		bad("ClickHouseURL", "%v, want clickhouse://host:9000/database", err)
	} else if db := clickhouseDatabase(c.ClickHouseURL); !clickhouseDatabaseRE.MatchString(db) {
		bad("ClickHouseURL", "database name %q: want letters, digits and _ only", db)
	}
	if c.PGMaxConns < 1 {
		bad("PGMaxConns", "%d, want 1 or more", c.PGMaxConns)
	}
	if err := checkAddr(c.HTTPAddr); err != nil {
		bad("HTTPAddr", "%v", err)
	}
	if c.DebugAddr != "" {
		if err := checkAddr(c.DebugAddr); err != nil {
			bad("DebugAddr", "%v", err)
		}
	}
	if c.WorkerHTTPAddr != "" {
		if err := checkAddr(c.WorkerHTTPAddr); err != nil {
			bad("WorkerHTTPAddr", "%v", err)
		}
	}
	if c.MaxRequestBytes < 1 || c.MaxRequestBytes > 1<<30 {
		bad("MaxRequestBytes", "%d, want 1 to %d", c.MaxRequestBytes, 1<<30)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("CORSOrigins", "%q, want * or origins such as https://app.example.com", o)
		}
	}
	if c.ShutdownTimeout <= 0 {
		bad("ShutdownTimeout", "%s, want more than 0", c.ShutdownTimeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LogLevel", "%q, want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("LogFormat", "%q, want json or text", c.LogFormat)
	}

	if c.JWTHS256Secret != "" && len(c.JWTHS256Secret) < 32 {
		bad("JWTHS256Secret", "too short, want 32 bytes or more")
	}
	if c.JWTJWKSFile != "" && c.JWTJWKSURL != "" {
		bad("JWTJWKSURL", "set %s or %s, not both", settingFor("JWTJWKSFile").env, settingFor("JWTJWKSURL").env)
	}
	if c.JWTJWKSURL != "" {
		if err := checkURL(c.JWTJWKSURL, "https", "http"); err != nil {
			bad("JWTJWKSURL", "%v, want https://host/path", err)
		}
	}
	if (c.JWTJWKSFile != "" || c.JWTJWKSURL != "") && (c.JWTIssuer == "" || c.JWTAudience == "") {
		field := "JWTJWKSFile"
		if c.JWTJWKSFile == "" {
			field = "JWTJWKSURL"
		}
		bad(field, "a JWKS needs %s and %s set too", settingFor("JWTIssuer").env, settingFor("JWTAudience").env)
	}
	if c.JWTProjectClaim == "" {
		bad("JWTProjectClaim", "empty, want a claim name")
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > 5*time.Minute {
		bad("JWTLeeway", "%s, want 0s to 5m", c.JWTLeeway)
	}
	if c.KeyCacheTTL <= 0 {
		bad("KeyCacheTTL", "%s, want more than 0", c.KeyCacheTTL)
	}

	if c.FigureCacheEntries < 0 || c.FigureCacheEntries > 10_000_000 {
		bad("FigureCacheEntries", "%d, want 0 to 10000000", c.FigureCacheEntries)
	}

	if c.Workers < 0 || c.Workers > 10_000 {
		bad("Workers", "%d, want 0 to 10000", c.Workers)
	}
	if c.JobTimeout <= 0 {
		bad("JobTimeout", "%s, want more than 0", c.JobTimeout)
	}
	if c.JobRetention <= 0 {
		bad("JobRetention", "%s, want more than 0", c.JobRetention)
	}
	if c.NATSURL != "" {
		if err := checkURL(c.NATSURL, "nats", "tls", "ws", "wss"); err != nil {
			bad("NATSURL", "%v, want nats://host:4222 or empty", err)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute URL with a host and one of schemes. Its errors never quote the
// URL, which may hold a password.
func checkURL(raw string, schemes ...string) error {
	if raw == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func clickhouseDatabase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		return db
	}
	return "default"
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr) // an empty host means every interface
	if err != nil {
		return fmt.Errorf("%q, want host:port such as 127.0.0.1:8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q, want 0 to 65535", addr, port)
	}
	return nil
}

// redacted lists every setting with its value as it may be shown: URL passwords and secrets
// hidden.
func (c Config) redacted() []redactedSetting {
	v := reflect.ValueOf(c)
	out := make([]redactedSetting, 0, v.NumField())
	for i, s := range settings() {
		var value string
		switch f := v.Field(i).Interface().(type) {
		case string:
			value = f
		case []string:
			value = strings.Join(f, ",")
		default:
			value = fmt.Sprint(f)
		}
		switch {
		case value == "":
		case s.redact == "secret":
			value = "[redacted]"
		case s.redact == "url":
			value = postgres.Redact(value)
		}
		out = append(out, redactedSetting{s, value})
	}
	return out
}

type redactedSetting struct {
	setting
	value string
}

// logAttr is the whole configuration as one log attribute, secrets hidden.
func (c Config) logAttr() slog.Attr {
	var attrs []any
	for _, r := range c.redacted() {
		attrs = append(attrs, slog.String(strings.ToLower(strings.TrimPrefix(r.env, envPrefix)), r.value))
	}
	return slog.Group("config", attrs...)
}

// settingsTable is the Markdown table of settings for the README.
func settingsTable(w io.Writer) {
	fmt.Fprintln(w, "| Variable | Flag | Default | Meaning |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, s := range settings() {
		def := "(empty)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		fmt.Fprintf(w, "| `%s` | `--%s` | %s | %s |\n", s.env, s.flag, def, s.help)
	}
}

func newConfigCmd(a *app) *cobra.Command {
	var markdown bool
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	for _, s := range settings() {
		def := s.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.env, def, s.help)
	}
	tw.Flush()
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the configuration the other commands would use, one VARIABLE=value per line, with URL
passwords and secrets redacted. Every setting comes from its environment variable, or from the
flag of the same name (which wins), or from its default.

Settings:
` + table.String(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if markdown {
				settingsTable(cmd.OutOrStdout())
				return nil
			}
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			for _, r := range cfg.redacted() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s=%s\n", r.env, r.value)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the table of settings in Markdown, for the README")
	return cmd
}
