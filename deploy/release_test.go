package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/config"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
	_ "github.com/edgeclip/edgeclip/runtime/native"
)

// The release test builds real tarballs (about 10 s with a warm build cache,
// 2–3 minutes cold on 2 cores: -trimpath builds share no cache with plain
// ones), so it runs only when asked: EDGECLIP_RELEASE_TEST=1 (make test-release).
const (
	releaseEnv     = "EDGECLIP_RELEASE_TEST"
	releaseVersion = "0.0.0-test"
	releaseEpoch   = 1700000000 // SOURCE_DATE_EPOCH: every tar member's mtime
	releaseName    = "edgeclip-" + releaseVersion + "-linux-arm64"
	releaseText    = "a red circle"
)

// lookTool finds a program the release scripts use, or skips naming the
// Debian package (a failure in CI, where make installs it).
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found: apt-get install --no-install-recommends " + pkg
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// runIn runs a command in dir with extra environment and returns its
// combined output; a non-zero exit fails the test when mustPass.
func runIn(t *testing.T, dir string, env []string, mustPass bool, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && mustPass {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), err
}

func TestReleaseArm64(t *testing.T) {
	if os.Getenv(releaseEnv) == "" {
		t.Skip("set " + releaseEnv + "=1 (make test-release) to build and check the arm64 release tarball")
	}
	qemu := lookTool(t, "qemu-aarch64", "qemu-user")
	for tool, pkg := range map[string]string{"tar": "tar", "gzip": "gzip", "sha256sum": "coreutils", "readelf": "binutils", "git": "git"} {
		lookTool(t, tool, pkg)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	// A tiny model and card stand in for models/shipped: fast under qemu,
	// and the tarball is checked to carry exactly them.
	shipped := filepath.Join(tmp, "shipped")
	if err := os.Mkdir(shipped, 0o755); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(shipped, "tiny.safetensors")
	if err := models.Write(model, models.RandomContents(models.TinyConfig(), 7)); err != nil {
		t.Fatal(err)
	}
	card := []byte("# tiny\n\nA random two-layer CLIP for the release test.\n")
	if err := os.WriteFile(filepath.Join(shipped, "tiny.md"), card, 0o644); err != nil {
		t.Fatal(err)
	}

	dist := filepath.Join(tmp, "dist")
	env := []string{"ARCHS=arm64", "DIST=" + dist, "SHIPPED=" + shipped, "SOURCE_DATE_EPOCH=" + strconv.Itoa(releaseEpoch)}
	start := time.Now()
	runIn(t, root, env, true, "bash", "scripts/release.sh", releaseVersion)
	t.Logf("release.sh (arm64): %v", time.Since(start).Round(time.Millisecond))
	tarball := filepath.Join(dist, releaseName+".tar.gz")
	first, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", filepath.Base(tarball), len(first))

	t.Run("members", func(t *testing.T) { checkMembers(t, root, first, model, card) })
	t.Run("dist SHA256SUMS", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		if want := hexSum(first) + "  " + releaseName + ".tar.gz\n"; string(sums) != want {
			t.Errorf("dist/SHA256SUMS = %q, want %q", sums, want)
		}
	})
	t.Run("reproducible", func(t *testing.T) {
		runIn(t, root, env, true, "bash", "scripts/release.sh", releaseVersion)
		again, err := os.ReadFile(tarball)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Errorf("a second release.sh run wrote different bytes: sha256 %s, then %s", hexSum(first), hexSum(again))
		}
	})

	unpacked := filepath.Join(tmp, "unpacked")
	if err := os.Mkdir(unpacked, 0o755); err != nil {
		t.Fatal(err)
	}
	runIn(t, unpacked, nil, true, "tar", "-xzf", tarball)
	rel := filepath.Join(unpacked, releaseName)

	t.Run("static arm64 binary", func(t *testing.T) {
		f, err := elf.Open(filepath.Join(rel, "edgeclip"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("machine %v, want EM_AARCH64", f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("has a program interpreter: not a CGO_ENABLED=0 static binary")
			}
		}
	})
	t.Run("qemu version", func(t *testing.T) {
		out, _ := runIn(t, rel, nil, true, qemu, "./edgeclip", "version")
		if !strings.HasPrefix(out, "edgeclip "+releaseVersion+" ") || !strings.Contains(out, "linux/arm64") {
			t.Errorf("edgeclip version = %q, want edgeclip %s ... linux/arm64", out, releaseVersion)
		}
	})
	t.Run("qemu embed", func(t *testing.T) {
		out, _ := runIn(t, rel, nil, true, qemu, "./edgeclip", "embed", "--model", "models/tiny.safetensors", "--text", releaseText)
		checkEmbed(t, out, model)
	})

	t.Run("install", func(t *testing.T) { checkInstall(t, root, tarball, rel, model, card) })
}

// checkMembers reads the tarball and compares every member with what the
// repository holds: names, modes, owners, mtimes, contents, SHA256SUMS.
func checkMembers(t *testing.T, root string, tgz []byte, model string, card []byte) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	modelBytes, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	// name → mode, and the content where the test knows it.
	want := map[string]int64{"": 0o755, "deploy/": 0o755, "deploy/sysusers.d/": 0o755, "docs/": 0o755, "models/": 0o755,
		"edgeclip": 0o755, "install.sh": 0o755, "SHA256SUMS": 0o644, "config.example.yaml": 0o644,
		"deploy/edgeclip.service": 0o644, "deploy/sysusers.d/edgeclip.conf": 0o644,
		"models/tiny.safetensors": 0o644, "models/tiny.md": 0o644}
	for _, opt := range []string{"README.md", "LICENSE", "LICENSE.md", "NOTICE", "docs/operations.md", "docs/release.md"} {
		if _, err := os.Stat(filepath.Join(root, opt)); err == nil {
			want[opt] = 0o644
		}
	}
	content := map[string][]byte{
		"deploy/edgeclip.service":         []byte(Unit),
		"deploy/sysusers.d/edgeclip.conf": []byte(Sysusers),
		"config.example.yaml":             []byte(config.Example()),
		"models/tiny.safetensors":         modelBytes,
		"models/tiny.md":                  card,
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(h.Name, releaseName+"/")
		if !ok {
			t.Errorf("member %q is not under %s/", h.Name, releaseName)
			continue
		}
		mode, ok := want[name]
		if !ok {
			t.Errorf("unexpected member %q", name)
			continue
		}
		delete(want, name)
		if h.Mode != mode || h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != releaseEpoch {
			t.Errorf("%s: mode %o uid %d gid %d mtime %d, want mode %o, 0:0, mtime %d",
				name, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), mode, releaseEpoch)
		}
		if h.Typeflag == tar.TypeReg {
			if files[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range want {
		t.Errorf("member %q missing", name)
	}
	for name, c := range content {
		if got, ok := files[name]; ok && !bytes.Equal(got, c) {
			t.Errorf("%s: content differs from the repository's (%d bytes, want %d)", name, len(got), len(c))
		}
	}
	// SHA256SUMS lists every other file with its hash, sorted.
	var listed []string
	for _, line := range strings.Split(strings.TrimSuffix(string(files["SHA256SUMS"]), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: malformed line %q", line)
		}
		listed = append(listed, name)
		if got, ok := files[name]; !ok {
			t.Errorf("SHA256SUMS lists %q, which the tarball does not have", name)
		} else if hexSum(got) != sum {
			t.Errorf("SHA256SUMS: %s: %s, the file's is %s", name, sum, hexSum(got))
		}
	}
	if len(listed) != len(files)-1 {
		t.Errorf("SHA256SUMS lists %d files, the tarball has %d besides it", len(listed), len(files)-1)
	}
}

// checkEmbed parses edgeclip embed's JSON from the arm64 binary and compares
// the vector with the native backend's on this machine.
func checkEmbed(t *testing.T, out, model string) {
	var got struct {
		Model string `json:"model"`
		Dim   int    `json:"dim"`
		Texts []struct {
			Text      string    `json:"text"`
			Embedding []float32 `json:"embedding"`
		} `json:"texts"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("edgeclip embed: not JSON: %v\n%s", err, out)
	}
	want := nativeText(t, model, releaseText)
	if got.Model != "random" || got.Dim != len(want) || len(got.Texts) != 1 || got.Texts[0].Text != releaseText {
		t.Fatalf("edgeclip embed = model %q dim %d, %d texts; want model \"random\", dim %d, one text %q:\n%s",
			got.Model, got.Dim, len(got.Texts), len(want), releaseText, out)
	}
	v := got.Texts[0].Embedding
	if len(v) != len(want) {
		t.Fatalf("embedding has %d values, want %d", len(v), len(want))
	}
	var dot, norm float64
	for i := range v {
		dot += float64(v[i]) * float64(want[i])
		norm += float64(v[i]) * float64(v[i])
	}
	// arm64 fuses multiply-adds, so the bits may differ; the direction may not.
	if math.Abs(norm-1) > 1e-4 || dot < 0.9999 {
		t.Errorf("arm64 embedding: norm² %.6f (want 1), cosine with amd64 native %.6f (want ≥ 0.9999)", norm, dot)
	}
}

// nativeText encodes one text with the native backend in this process.
func nativeText(t *testing.T, path, text string) []float32 {
	t.Helper()
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := f.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	b, err := runtime.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := b.Open(t.Context(), f, runtime.Options{Precision: runtime.FP32, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	cfg := f.Config()
	out := make([]float32, cfg.EmbedDim)
	if err := sess.EncodeTexts(t.Context(), [][]int32{tok.Encode(text, cfg.ContextLen)}, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tree lists the regular files under dir: relative path → mode.
func tree(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkInstall runs install.sh into DESTDIR roots from the tarball and from
// the unpacked folder, twice each, and checks the layout, that a second run
// changes nothing and keeps an edited config, and that bad input installs
// nothing.
func checkInstall(t *testing.T, root, tarball, rel, model string, card []byte) {
	bin, err := os.ReadFile(filepath.Join(rel, "edgeclip"))
	if err != nil {
		t.Fatal(err)
	}
	modelBytes, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	example := []byte(config.Example())
	want := map[string]struct {
		mode fs.FileMode
		data []byte
	}{
		"usr/local/bin/edgeclip":                       {0o755, bin},
		"usr/local/share/edgeclip/tiny.safetensors":    {0o644, modelBytes},
		"usr/local/share/edgeclip/tiny.md":             {0o644, card},
		"usr/local/share/edgeclip/config.example.yaml": {0o644, example},
		"etc/systemd/system/edgeclip.service":          {0o644, []byte(Unit)},
		"usr/lib/sysusers.d/edgeclip.conf":             {0o644, []byte(Sysusers)},
		"etc/edgeclip/config.yaml":                     {0o644, example},
	}
	script := filepath.Join(root, "scripts", "install.sh")
	cases := []struct {
		name   string
		script string
		args   []string
	}{
		{"tarball", script, []string{tarball}},
		{"unpacked folder, no argument", filepath.Join(rel, "install.sh"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dest := t.TempDir()
			env := []string{"DESTDIR=" + dest}
			runIn(t, root, env, true, "bash", append([]string{c.script}, c.args...)...)
			got := tree(t, dest)
			for name, w := range want {
				data, err := os.ReadFile(filepath.Join(dest, name))
				switch {
				case err != nil:
					t.Errorf("%s: %v", name, err)
				case got[name].Perm() != w.mode:
					t.Errorf("%s: mode %v, want %v", name, got[name].Perm(), w.mode)
				case !bytes.Equal(data, w.data):
					t.Errorf("%s: content differs (%d bytes, want %d)", name, len(data), len(w.data))
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					t.Errorf("unexpected file %s", name)
				}
			}

			// Again, over an edited config: nothing changes, the config stays.
			conf := filepath.Join(dest, "etc/edgeclip/config.yaml")
			edited := []byte("device_id: cam-17\n")
			if err := os.WriteFile(conf, edited, 0o600); err != nil {
				t.Fatal(err)
			}
			out, _ := runIn(t, root, env, true, "bash", append([]string{c.script}, c.args...)...)
			if data, _ := os.ReadFile(conf); !bytes.Equal(data, edited) {
				t.Errorf("second install replaced the edited config.yaml with:\n%s", data)
			}
			for name := range want {
				if !strings.Contains(out, "unchanged /"+name) && !strings.HasPrefix(name, "etc/edgeclip/") {
					t.Errorf("second install did not leave /%s unchanged:\n%s", name, out)
				}
			}
			if again := tree(t, dest); len(again) != len(got) {
				t.Errorf("second install: %d files, first %d", len(again), len(got))
			}
		})
	}

	// A release whose files do not match SHA256SUMS, a folder that is not a
	// release and a missing tarball all fail before anything is installed.
	corrupt := filepath.Join(t.TempDir(), releaseName)
	runIn(t, root, nil, true, "cp", "-a", rel, corrupt)
	if err := os.WriteFile(filepath.Join(corrupt, "models", "tiny.md"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		arg  string
		msg  string
	}{
		{"checksum mismatch", corrupt, "checksums do not match"},
		{"not a release", t.TempDir(), "not a release"},
		{"missing tarball", filepath.Join(t.TempDir(), "nope.tar.gz"), "no such file"},
		{"not a tarball", model, "not a .tar.gz release"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			dest := t.TempDir()
			out, err := runIn(t, root, []string{"DESTDIR=" + dest}, false, "bash", script, c.arg)
			if err == nil || !strings.Contains(out, c.msg) {
				t.Errorf("install.sh %s: err %v, output %q; want a failure saying %q", c.arg, err, out, c.msg)
			}
			if files := tree(t, dest); len(files) > 0 {
				t.Errorf("installed %d files anyway: %v", len(files), files)
			}
		})
	}
}
