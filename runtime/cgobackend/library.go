package cgobackend

import (
	"os"
	"path/filepath"
	goruntime "runtime"
)

// LibraryPaths lists where a backend's library soname is looked for, in
// order: next to the executable, in third_party/<dir>/<arch>/ of the
// executable's folder, its parent or the working directory and its parents
// (a source checkout after scripts/fetch-<backend>.sh), and last the bare
// soname for the dynamic loader's own search (a system install).
func LibraryPaths(dir, soname string) []string {
	rel := filepath.Join("third_party", dir, libArch(), soname)
	var paths []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		paths = append(paths, filepath.Join(d, soname), filepath.Join(d, rel), filepath.Join(d, "..", rel))
	}
	if wd, err := os.Getwd(); err == nil {
		for d, i := wd, 0; i < 6; d, i = filepath.Dir(d), i+1 {
			paths = append(paths, filepath.Join(d, rel))
		}
	}
	return append(paths, soname)
}

// libArch is the folder name the fetch scripts use for this machine.
func libArch() string {
	if goruntime.GOARCH == "amd64" {
		return "x64"
	}
	return goruntime.GOARCH
}

// FindLibrary returns lib when set, else the first of paths that is a
// file, else the last of paths (the bare soname, for the loader to find).
func FindLibrary(lib string, paths []string) string {
	if lib != "" {
		return lib
	}
	for _, p := range paths[:len(paths)-1] {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return paths[len(paths)-1]
}
