package models

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const python = "/usr/bin/python3"

// TestPythonInterop checks tools/modelfile.py against this package: its own
// tests pass, it reads a Go-written file and re-encodes it to the same
// bytes, and Go opens a Python-written file with the hash Python computed.
func TestPythonInterop(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Skip("no " + python)
	}
	script := filepath.Join("..", "tools", "test_modelfile.py")
	if out, err := exec.Command(python, script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go.safetensors")
	c := tinyMixed(t)
	if err := Write(goFile, c); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, "interop", goFile, dir).Output()
	if err != nil {
		t.Fatalf("interop: %v\n%s", err, out)
	}
	var r struct {
		GoHash     string `json:"go_hash"`
		SameBytes  bool   `json:"same_bytes"`
		PythonFile string `json:"python_file"`
		PythonHash string `json:"python_hash"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("interop output %q: %v", out, err)
	}
	if r.GoHash != HashContents(c) {
		t.Errorf("Python read hash %s, Go wrote %s", r.GoHash, HashContents(c))
	}
	if !r.SameBytes {
		t.Errorf("Python re-encoding of the Go file differs from it byte for byte")
	}
	f, err := Open(r.PythonFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Hash() != r.PythonHash {
		t.Errorf("Go opened the Python file with hash %s, Python wrote %s", f.Hash(), r.PythonHash)
	}
	if got := HashContents(f.Contents()); got != r.PythonHash {
		t.Errorf("Go recomputes %s for the Python file, want %s", got, r.PythonHash)
	}
	if f.Name() != "from-python" || f.Metadata()[KeyCard] != "written by python" {
		t.Errorf("metadata: name %q, card %q", f.Name(), f.Metadata()[KeyCard])
	}
}
