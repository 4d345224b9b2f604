package main

import (
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/models/shipped"
)

// defaultModelPath is the model used when none is given: $EDGECLIP_MODEL,
// else the default model installed beside the binary or in
// /usr/local/share/edgeclip, else the copy embedded in the binary
// (extracted once to the user cache directory).
func defaultModelPath() string {
	if p := os.Getenv("EDGECLIP_MODEL"); p != "" {
		return p
	}
	cands := []string{filepath.Join("/usr/local/share/edgeclip", shipped.Default)}
	if exe, err := os.Executable(); err == nil {
		cands = append([]string{filepath.Join(filepath.Dir(exe), "..", "share", "edgeclip", shipped.Default)}, cands...)
	}
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	p, err := shipped.Path(shipped.Default, "")
	if err != nil {
		return ""
	}
	return p
}
