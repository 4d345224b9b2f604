package cgobackend

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/runtime"
)

// CacheDir is a backend's export cache folder from the value of its
// environment variable: "off" is none (""), empty is the user cache folder's
// edgeclip/<sub>, and anything else is taken as is.
func CacheDir(env, sub string) string {
	switch env {
	case "off":
		return ""
	case "":
		if d, err := os.UserCacheDir(); err == nil {
			return filepath.Join(d, "edgeclip", sub)
		}
	}
	return env
}

// ModelDir is where the exports of one model and precision are cached
// under root, with version naming the exporter's output (bumped when it
// changes what it writes); "" (export in memory) when root or hash is.
func ModelDir(root, hash, version string, prec runtime.Precision) string {
	if root == "" || hash == "" {
		return ""
	}
	return filepath.Join(root, SafeName(hash), version, string(prec))
}

// SafeName keeps letters, digits, '.', '-' and '_' of s for a path element.
func SafeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 || string(b) == "." || string(b) == ".." {
		return "_"
	}
	return string(b)
}

// Source is one exported tower as a backend loads it: the path of a
// cached file, or the file's bytes when there is no cache.
type Source struct {
	Path string
	Data []byte
}

// Export returns dir/file when it is cached there; otherwise it builds the
// graph (only then: w8a8 calibration is slow) and writes it in format f,
// with export.Metadata, into dir or, when dir is "" or on cache trouble
// (logged as a warning by backend), into memory.
func Export(backend, dir, file string, f export.Format, w runtime.Weights, build func() (*export.Graph, error)) (Source, error) {
	var p string
	if dir != "" {
		p = filepath.Join(dir, file)
		if _, err := os.Stat(p); err == nil {
			return Source{Path: p}, nil
		}
	}
	g, err := build()
	if err != nil {
		return Source{}, err
	}
	meta := export.Metadata(w, g)
	if dir != "" {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = f.WriteFile(p, g, meta, nil)
		}
		if err == nil {
			return Source{Path: p}, nil
		}
		slog.Warn(backend+": cannot cache the export, exporting in memory", "file", file, "dir", dir, "err", err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, g, meta, nil); err != nil {
		return Source{}, err
	}
	return Source{Data: buf.Bytes()}, nil
}
