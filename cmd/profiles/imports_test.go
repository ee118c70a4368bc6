package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/poluruprvn/profiles/"

// importRules is the house's dependency direction (STYLE.md): cmd -> adapters (db/*, jobs,
// bridge, handlers) -> domain (profiles, events, auth) -> identity. Each rule bans imports by
// prefix, with the reason a reviewer would give.
var importRules = []struct {
	pkgs   []string // module-relative package paths
	banned []string // import path prefixes; module-relative ones start with "@"
	why    string
}{
	{[]string{"identity"}, []string{"@", "."}, "the identity rules are the leaf of the house: the standard library only"},
	{[]string{"profiles", "events", "auth"},
		[]string{"@db/", "@jobs", "@bridge", "@bench", "@cmd/", "github.com/jackc/", "github.com/ClickHouse/", "github.com/riverqueue/", "github.com/nats-io/"},
		"the domain declares the interfaces it needs and never sees a driver or an adapter"},
	{[]string{"db/postgres"}, []string{"@db/clickhouse", "@jobs", "@bridge", "@bench", "@cmd/"}, "adapters never import each other; cmd wires them"},
	{[]string{"db/clickhouse"}, []string{"@db/postgres", "@jobs", "@bridge", "@bench", "@cmd/"}, "adapters never import each other; cmd wires them"},
	{[]string{"jobs"}, []string{"@db/", "@bridge", "@bench", "@cmd/", "github.com/ClickHouse/"}, "workers depend on small interfaces that db implements"},
	{[]string{"bridge"}, []string{"@db/", "@jobs", "@bench", "@cmd/"}, "the NATS bridge feeds the identity service, whatever stores it"},
	{[]string{"*"}, []string{"@db/pgtest", "@db/chtest", "@internal/fakeclock"}, "test databases and clocks are for tests only"},
	{[]string{"*"}, []string{"@cmd/"}, "nothing imports the binary"},
}

// TestImportGraph checks every non-test import of the module against importRules.
func TestImportGraph(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		seen[pkg] = true
		for _, imp := range fields[1:] {
			rel := imp
			if strings.HasPrefix(imp, module) {
				rel = "@" + strings.TrimPrefix(imp, module)
			}
			for _, r := range importRules {
				if !applies(r.pkgs, pkg) {
					continue
				}
				for _, ban := range r.banned {
					hit := strings.HasPrefix(rel, ban)
					if ban == "." { // anything outside the standard library
						hit = !strings.HasPrefix(rel, "@") && strings.Contains(strings.SplitN(rel, "/", 2)[0], ".")
					}
					if hit {
						t.Errorf("%s imports %s: %s", pkg, imp, r.why)
					}
				}
			}
		}
	}
	for _, r := range importRules {
		for _, p := range r.pkgs {
			if p != "*" && !seen[p] {
				t.Errorf("rule for %s names no package of the module: update importRules", p)
			}
		}
	}
}

func applies(pkgs []string, pkg string) bool {
	for _, p := range pkgs {
		if p == "*" || p == pkg {
			return !(p == "*" && (strings.HasPrefix(pkg, "db/pgtest") || strings.HasPrefix(pkg, "db/chtest")))
		}
	}
	return false
}
