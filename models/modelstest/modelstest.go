// Package modelstest has helpers for tests that need real model files.
package modelstest

import (
	"path/filepath"
	"testing"

	"github.com/edgeclip/edgeclip/models"
)

// WriteOpen writes c to name.safetensors in a temporary folder of t and
// opens it; the file is closed when the test ends.
func WriteOpen(t testing.TB, c *models.Contents, name string) *models.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".safetensors")
	if err := models.Write(path, c); err != nil {
		t.Fatal(err)
	}
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
