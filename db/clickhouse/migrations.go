package clickhouse

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"sync"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one embedded migrations/NNNN_name.sql file.
type Migration struct {
	Version    int      // NNNN
	Name       string   // the file name without .sql, e.g. "0001_identity"
	Statements []string // the file cut at its ';' (see splitStatements)
}

var migrationNameRE = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

var loadMigrations = sync.OnceValues(func() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries { // ReadDir sorts by name, so by version
		m := migrationNameRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("clickhouse: migration file %q: want NNNN_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if version != len(out)+1 {
			return nil, fmt.Errorf("clickhouse: migration %q: want version %04d (no gaps, no repeats)", e.Name(), len(out)+1)
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		stmts := splitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("clickhouse: migration %q holds no statement", e.Name())
		}
		out = append(out, Migration{Version: version, Name: e.Name()[:len(e.Name())-len(".sql")], Statements: stmts})
	}
	return out, nil
})

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		m.Statements = append([]string(nil), m.Statements...)
		out[i] = m
	}
	return out, nil
}
