package export_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// TestWriteFileAtomic: a finished write leaves just the file; a failed one
// leaves nothing, not even the temporary file, and keeps an older file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.bin")
	if err := export.WriteFileAtomic("x", path, func(w io.Writer) error {
		_, err := io.WriteString(w, "first")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := export.WriteFileAtomic("x", path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: err = %v, want %v", err, boom)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "first" {
		t.Errorf("after a failed write the file holds %q, %v; want the first write's %q", data, err, "first")
	}
	if names := exporttest.DirNames(t, dir); !slices.Equal(names, []string{"m.bin"}) {
		t.Errorf("folder holds %v, want only m.bin", names)
	}
	err = export.WriteFileAtomic("x", filepath.Join(dir, "missing", "m.bin"), func(io.Writer) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "x: ") {
		t.Errorf("missing folder: err = %v, want an error prefixed x:", err)
	}
}

// TestFormatWriteDir drives WriteDir with a format that writes its
// arguments as text, to see what each tower's file is given.
func TestFormatWriteDir(t *testing.T) {
	f := export.Format{Name: "fake", ImageFile: "i.fake", TextFile: "t.fake",
		Write: func(w io.Writer, g *export.Graph, meta map[string]string, progress func(done, total int64)) error {
			if progress != nil {
				progress(1, 2)
			}
			_, err := fmt.Fprintf(w, "%s %s %s", g.Name, meta["edgeclip.tower"], meta["edgeclip.precision"])
			return err
		}}
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 1, 0.2)
	dir := filepath.Join(t.TempDir(), "out")
	var calls []string
	err := f.WriteDir(dir, w, runtime.W8, func(file string, done, total int64) {
		calls = append(calls, fmt.Sprintf("%s %d/%d", file, done, total))
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"i.fake": "image image w8", "t.fake": "text text w8"} {
		if data, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(data) != want {
			t.Errorf("%s holds %q, %v; want %q", file, data, err, want)
		}
	}
	if want := []string{"i.fake 1/2", "t.fake 1/2"}; !slices.Equal(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
	if names := exporttest.DirNames(t, dir); !slices.Equal(names, []string{"i.fake", "t.fake"}) {
		t.Errorf("folder holds %v, want the two files only", names)
	}
	if err := f.WriteDir(dir, w, "f64", nil); err == nil {
		t.Error("unknown precision: want error")
	}
}
