package export

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/runtime"
)

// Format is one file format's writer as the drivers shared by every format
// see it: WriteDir (`edgeclip export`) and the backends' export caches.
// The formats' own packages (export/onnx, export/tflite) each provide one.
type Format struct {
	// Name is the format's package name, the prefix of its errors.
	Name string
	// ImageFile and TextFile name the files of an exported pair.
	ImageFile, TextFile string
	// Write serializes g to w with meta stored in the file, calling
	// progress (when set) with the running count and total as bytes go out.
	Write func(w io.Writer, g *Graph, meta map[string]string, progress func(done, total int64)) error
}

// WriteFile writes g to path atomically (see WriteFileAtomic).
func (f Format) WriteFile(path string, g *Graph, meta map[string]string, progress func(done, total int64)) error {
	return WriteFileAtomic(f.Name, path, func(w io.Writer) error { return f.Write(w, g, meta, progress) })
}

// WriteDir exports both towers of w in precision prec into dir as
// ImageFile and TextFile, with Metadata in each. progress, when set, gets
// (file, done, total) callbacks.
func (f Format) WriteDir(dir string, w runtime.Weights, prec runtime.Precision, progress func(file string, done, total int64)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	for _, tw := range []struct {
		file  string
		build func(runtime.Weights, runtime.Precision) (*Graph, error)
	}{{f.ImageFile, Image}, {f.TextFile, Text}} {
		g, err := tw.build(w, prec)
		if err != nil {
			return err
		}
		var fileProgress func(done, total int64)
		if progress != nil {
			file := tw.file
			fileProgress = func(done, total int64) { progress(file, done, total) }
		}
		if err := f.WriteFile(filepath.Join(dir, tw.file), g, Metadata(w, g), fileProgress); err != nil {
			return err
		}
	}
	return nil
}

// Metadata is what WriteDir stores in a file: enough to tell which model
// file, tower and precision an exported file came from.
func Metadata(w runtime.Weights, g *Graph) map[string]string {
	return map[string]string{
		"edgeclip.hash":      w.Hash(),
		"edgeclip.tower":     g.Name,
		"edgeclip.precision": string(g.Precision),
	}
}

// WriteFileAtomic writes path through a temporary file in the same folder,
// synced and renamed into place, so that a reader (a backend's cache, a
// device copying the folder) never sees half a file. write fills the file;
// the file's own errors are prefixed with pkg.
func WriteFileAtomic(pkg, path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("%s: %s: %w", pkg, path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("%s: %s: %w", pkg, path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	return nil
}
