package proto_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// generatedDirs are the `out` directories of buf.gen.yaml's plugins: Go code and the TypeScript clients.
var generatedDirs = []string{"gen", "web/gen"}

// TestGeneratedCodeIsFresh fails when the committed gen/ or web/gen/ is not exactly what `buf generate` makes of
// proto/ now: a file missing, an extra file, or a file whose bytes differ. It generates into a temporary directory
// (-o puts the template's `out` directories under it, and `clean: true` then empties only that copy), so the
// committed trees are never touched. Fix a failure with `make generate` and commit gen/ and web/gen/.
func TestGeneratedCodeIsFresh(t *testing.T) {
	t.Parallel()

	root := repoRoot(t)
	buf := findBuf(t, root)
	requireWebPlugins(t, root)

	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), buf, "generate", "--template", "buf.gen.yaml", "-o", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate --template buf.gen.yaml -o %s (in %s): %v\n%s", out, root, err, b)
	}

	var problems []string
	for _, dir := range generatedDirs {
		want := readTree(t, filepath.Join(out, filepath.FromSlash(dir)))
		got := readTree(t, filepath.Join(root, filepath.FromSlash(dir)))
		if len(want) == 0 {
			t.Fatalf("buf generate wrote nothing under %s: is %s still an `out` in buf.gen.yaml?", filepath.Join(out, dir), dir)
		}
		problems = append(problems, compareTrees(dir, want, got)...)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("generated code is stale; run `make generate` and commit %s:\n\t%s",
			strings.Join(generatedDirs, " and "), strings.Join(problems, "\n\t"))
	}
}

// compareTrees lists how got (the committed files under dir) departs from want (what buf generates).
func compareTrees(dir string, want, got map[string][]byte) []string {
	var problems []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			problems = append(problems, dir+"/"+name+": missing (buf generates it, "+dir+"/ lacks it)")
		case !bytes.Equal(g, w):
			problems = append(problems, dir+"/"+name+": differs from what buf generates ("+firstDiff(w, g)+")")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			problems = append(problems, dir+"/"+name+": extra (in "+dir+"/, but buf does not generate it)")
		}
	}
	return problems
}

// repoRoot walks up from the test's directory to the one holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// findBuf prefers the pinned buf that scripts/setup.sh installs into .tools, then one on PATH. A missing buf is
// a failure, not a skip: CI must not pass without checking gen/.
func findBuf(t *testing.T, root string) string {
	t.Helper()
	local := filepath.Join(root, ".tools", "node_modules", ".bin", "buf")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("buf"); err == nil {
		return p
	}
	t.Fatalf("buf not found at %s nor on PATH: run scripts/setup.sh (or `make setup`) to install it", local)
	return ""
}

// requireWebPlugins fails early, with the fix, when the TypeScript plugins that buf.gen.yaml runs from
// web/node_modules are not installed (buf's own error names only the missing executable).
func requireWebPlugins(t *testing.T, root string) {
	t.Helper()
	plugin := filepath.Join(root, "web", "node_modules", ".bin", "protoc-gen-es")
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("%s is missing: run scripts/setup.sh tools (npm ci in web/) to install the TypeScript plugins", plugin)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH: buf.gen.yaml's TypeScript plugins need Node 20 or newer")
	}
}

// readTree returns every regular file under dir, keyed by slash-separated path relative to dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read %s: %v", dir, err)
	}
	return files
}

// firstDiff names the first line where have departs from want.
func firstDiff(want, have []byte) string {
	w := strings.Split(string(want), "\n")
	h := strings.Split(string(have), "\n")
	for i := 0; i < len(w) && i < len(h); i++ {
		if w[i] != h[i] {
			return fmt.Sprintf("first difference at line %d: want %.80q, have %.80q", i+1, w[i], h[i])
		}
	}
	return fmt.Sprintf("want %d lines, have %d", len(w), len(h))
}
