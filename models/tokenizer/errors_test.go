package tokenizer

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewErrors(t *testing.T) {
	derived, err := New(tinyMerges, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := derived.Vocab()
	without := func(tok string) []string {
		return slices.DeleteFunc(slices.Clone(good), func(s string) bool { return s == tok })
	}
	cases := []struct {
		name   string
		merges []string
		vocab  []string
		want   string // substring of the error
	}{
		{"one part", []string{"c a", "ca"}, nil, `merge 1 "ca": want two tokens`},
		{"three parts", []string{"c a t"}, nil, `merge 0 "c a t"`},
		{"double space", []string{"c  a"}, nil, `merge 0 "c  a"`},
		{"empty", []string{""}, nil, `merge 0 ""`},
		{"leading space", []string{" a"}, nil, `merge 0 " a"`},
		{"unknown left", []string{"c a", "xyz a"}, nil, `merge 1 "xyz a": token "xyz" not in vocabulary`},
		{"unknown right", []string{"c a", "a q</w>"}, good, `merge 1 "a q</w>": merged token "aq</w>" not in vocabulary`},
		{"unknown right token", []string{"a zz"}, good, `merge 0 "a zz": token "zz" not in vocabulary`},
		{"duplicate merge", []string{"c a", "c a"}, nil, `duplicate`},
		{"duplicate vocab", tinyMerges, append(slices.Clone(good), "ca"), `vocab token "ca" at id 520 duplicates id 512`},
		{"no start", tinyMerges, without(startToken), `lacks the special token "<|startoftext|>"`},
		{"no end", tinyMerges, without(endToken), `lacks the special token "<|endoftext|>"`},
		{"no byte", tinyMerges, without("Ā"), `lacks the byte symbol "Ā"`},
		{"no byte end", tinyMerges, without("!</w>"), `lacks the byte symbol "!</w>"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.merges, c.vocab)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New error = %v, want one containing %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "tokenizer: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLoadCLIPBPE(t *testing.T) {
	dir := t.TempDir()
	body := "\"bpe_simple_vocab_16e6.txt#version: 0.2\nc a\nca t</w>\r\nd o\n\n"
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write([]byte(body))
	zw.Close()
	gz := filepath.Join(dir, "vocab.txt.gz")
	if err := os.WriteFile(gz, zbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"c a", "ca t</w>", "d o"}
	for _, p := range []string{plain, gz} {
		got, err := LoadCLIPBPE(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: merges (-want +got):\n%s", p, diff)
		}
	}

	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("#version: 0.2\nc a\nbroken\n"), 0o644)
	corrupt := filepath.Join(dir, "corrupt.gz")
	os.WriteFile(corrupt, append([]byte{0x1f, 0x8b}, "not gzip"...), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	for _, c := range []struct{ path, want string }{
		{bad, `line 3 "broken"`},
		{corrupt, "corrupt.gz"},
		{empty, "no merges"},
		{filepath.Join(dir, "missing.txt"), "missing.txt"},
	} {
		if _, err := LoadCLIPBPE(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadCLIPBPE(%s) error = %v, want one containing %q", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestLoadCLIPBPELimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("#version: 0.2\n")
	for range CLIPMerges + 10 {
		b.WriteString("a b\n")
	}
	got, err := parseMerges([]byte(b.String()), CLIPMerges)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != CLIPMerges {
		t.Errorf("kept %d merges, want %d", len(got), CLIPMerges)
	}
}

func TestParseHFVocabErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"not json", `{"a": 0`, "vocab:"},
		{"empty", `{}`, "0 tokens"},
		{"gap", `{"a": 0, "b": 2}`, `id 2 outside 0..1`},
		{"negative", `{"a": -1}`, `id -1 outside`},
		{"shared id", `{"a": 0, "b": 0}`, `also used by`},
		{"trailing", `{"a": 0} {}`, "after the JSON object"},
		{"not ints", `{"a": "x"}`, "vocab:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := parseHFVocab([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("parseHFVocab error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestHeapMatchesScan checks the O(n log n) merge against the direct
// transcription on long words with the real merges.
func TestHeapMatchesScan(t *testing.T) {
	tok := clipTokenizer(t)
	for _, w := range []string{
		strings.Repeat("a", 200),
		strings.Repeat("ab", 101),
		strings.Repeat("supercalifragilistic", 9),
		strings.Repeat("日本語", 30),
		"pneumonoultramicroscopicsilicovolcanoconiosisthermalimagingnightvisioninfrared",
	} {
		word := []byte(w)
		scan := tok.bpeScan(nil, word)
		heap := tok.bpeHeap(nil, word)
		if diff := cmp.Diff(scan, heap); diff != "" {
			t.Errorf("word %.20q…: heap vs scan (-scan +heap):\n%s", w, diff)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := clipTokenizer(t)
	texts := []string{"a photo of a cat", "a red truck", "person at the door", "café crème"}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, 77)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(texts)
				// Unique words also exercise cache insertion under contention.
				tok.Encode(strings.Repeat("z", g+i%50+1), 77)
				if got := tok.Encode(texts[k], 77); !slices.Equal(got, want[k]) {
					t.Errorf("goroutine %d: Encode(%q) = %v, want %v", g, texts[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWarmEncodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	tok := clipTokenizer(t)
	const q = "A Person in a RED jacket walking a dog near the parked truck at night"
	dst := make([]int32, 0, 77)
	dst = tok.AppendEncode(dst[:0], q, 77)
	allocs := testing.AllocsPerRun(100, func() { dst = tok.AppendEncode(dst[:0], q, 77) })
	if allocs != 0 {
		t.Errorf("warm AppendEncode allocates %.1f times per call, want 0", allocs)
	}
}

func TestCacheBounded(t *testing.T) {
	tok, err := New(tinyMerges, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range cacheEntries + 100 {
		b.Reset()
		for n := i + 1; n > 0; n /= 26 {
			b.WriteByte(byte('a' + n%26))
		}
		tok.Encode(b.String(), 0)
	}
	if n := len(tok.cache.m); n > cacheEntries {
		t.Errorf("cache holds %d words, want at most %d", n, cacheEntries)
	}
	long := strings.Repeat("q", maxCachedWord+1)
	tok.Encode(long, 0)
	if _, ok := tok.cache.m[long]; ok {
		t.Errorf("a %d-byte word was cached", len(long))
	}
}
