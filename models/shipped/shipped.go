// Package shipped embeds edgeclip's default model so that `edgeclip run`
// works with no flags and no download. The file is extracted once into a
// cache directory and memory-mapped from there like any other model file.
package shipped

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed world-student-int8.safetensors
var files embed.FS

// Default is the file name of the default model: the int8 world student.
const Default = "world-student-int8.safetensors"

// Names lists the embedded model files.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// Path returns a file path for the named embedded model, writing it under
// dir (default: the user cache directory) when it is not there yet. The
// name of the extracted file carries the content digest, so a newer binary
// never reads an older model.
func Path(name, dir string) (string, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("shipped: %s: %w (have %v)", name, err, Names())
	}
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			c = os.TempDir()
		}
		dir = filepath.Join(c, "edgeclip")
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, hex.EncodeToString(sum[:8])+"-"+name)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("shipped: %w", err)
	}
	f, err := os.CreateTemp(dir, ".extract-*")
	if err != nil {
		return "", fmt.Errorf("shipped: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("shipped: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("shipped: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("shipped: %w", err)
	}
	return path, nil
}
