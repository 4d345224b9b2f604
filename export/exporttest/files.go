package exporttest

import (
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file at path, after rewriting the
// file with got when update is set (the tests' -update flag).
func Golden(t *testing.T, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s changed (run with -update if intended):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// DirNames lists the names in dir, sorted, to check that a writer left
// exactly its files and no temporaries.
func DirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
