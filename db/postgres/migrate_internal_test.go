package postgres

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

// The repair list names every index a migration builds concurrently.
func TestConcurrentIndexesListsEveryConcurrentBuild(t *testing.T) {
	t.Parallel()
	build := regexp.MustCompile(`(?i)CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)`)
	var built []string
	err := fs.WalkDir(migrationFiles, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrationFiles, path)
		for _, m := range build.FindAllSubmatch(b, -1) {
			built = append(built, string(m[1]))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(built)
	built = slices.Compact(built) // 0012 and 0013 both build profiles_search_words_next
	want := slices.Sorted(slices.Values(concurrentIndexes))
	if !slices.Equal(built, want) {
		t.Errorf("migrations build %v concurrently; concurrentIndexes lists %v", built, want)
	}
}
