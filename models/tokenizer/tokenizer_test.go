package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dataDir holds the reference files, outside the repository (../shared).
const dataDir = "../../../shared/data/clip-bpe"

// needData returns the path of a reference file, failing under CI and
// skipping elsewhere when it is missing.
func needData(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(dataDir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("reference file missing under CI: %v", err)
		}
		t.Skipf("reference file missing: %v", err)
	}
	return p
}

var (
	clipOnce sync.Once
	clipTok  *Tokenizer
	clipErr  error
)

// clipTokenizer is the real CLIP tokenizer, loaded once per test binary.
func clipTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	p := needData(t, "bpe_simple_vocab_16e6.txt.gz")
	clipOnce.Do(func() {
		var merges []string
		if merges, clipErr = LoadCLIPBPE(p); clipErr == nil {
			clipTok, clipErr = New(merges, nil)
		}
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return clipTok
}

type refCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func TestReferenceCases(t *testing.T) {
	tok := clipTokenizer(t)
	f, err := os.Open(needData(t, "tokenizer_cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []refCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c refCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("case %d: %v", len(cases)+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("read %d reference cases, want at least 30", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Text, func(t *testing.T) {
			// Twice: the second run goes through the word cache.
			for pass := range 2 {
				got := tok.Encode(c.Text, 77)
				if diff := cmp.Diff(c.IDs, got); diff != "" {
					t.Errorf("pass %d: Encode(%q) ids (-want +got):\n%s", pass, c.Text, diff)
				}
			}
		})
	}
}

func TestCLIPVocabulary(t *testing.T) {
	tok := clipTokenizer(t)
	if got, want := tok.VocabSize(), 49408; got != want {
		t.Errorf("VocabSize = %d, want %d", got, want)
	}
	if tok.StartID() != 49406 || tok.EndID() != 49407 {
		t.Errorf("StartID, EndID = %d, %d, want 49406, 49407", tok.StartID(), tok.EndID())
	}
	if got := len(tok.Merges()); got != CLIPMerges {
		t.Errorf("len(Merges) = %d, want %d", got, CLIPMerges)
	}
}

func TestTruncation(t *testing.T) {
	tok := clipTokenizer(t)
	long := strings.Repeat("a photo of a cat ", 40)
	full := tok.Encode(long, 0)
	if len(full) != 2+40*5 {
		t.Fatalf("unlimited Encode gave %d ids, want %d", len(full), 2+40*5)
	}
	for _, n := range []int{77, 10, 3, 2, 1} {
		got := tok.Encode(long, n)
		want := max(n, 2)
		if len(got) != want {
			t.Errorf("contextLen %d: %d ids, want %d", n, len(got), want)
			continue
		}
		if got[0] != tok.StartID() || got[len(got)-1] != tok.EndID() {
			t.Errorf("contextLen %d: ids %v do not start with %d and end with %d", n, got, tok.StartID(), tok.EndID())
		}
		if diff := cmp.Diff(full[:want-1], got[:want-1]); diff != "" {
			t.Errorf("contextLen %d: prefix differs from the unlimited encoding (-want +got):\n%s", n, diff)
		}
	}
	// An exact fit is not cut.
	short := tok.Encode("a photo of a cat", 7)
	if diff := cmp.Diff([]int32{49406, 320, 1125, 539, 320, 2368, 49407}, short); diff != "" {
		t.Errorf("exact fit (-want +got):\n%s", diff)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := clipTokenizer(t)
	for _, text := range []string{
		"a photo of a cat",
		"person at the front door",
		"the quick brown fox jumps over the lazy dog",
		"a forklift carrying pallets in a warehouse",
	} {
		ids := tok.Encode(text, 77)
		if got := tok.Decode(ids[1 : len(ids)-1]); got != text+" " {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", text, got, text+" ")
		}
	}
	if got, want := tok.Decode(tok.Encode("a dog", 0)), "<|startoftext|>a dog <|endoftext|>"; got != want {
		t.Errorf("Decode with specials = %q, want %q", got, want)
	}
	if got, want := tok.Decode([]int32{-1, 320, 1 << 30}), "\uFFFDa \uFFFD"; got != want {
		t.Errorf("Decode with bad ids = %q, want %q", got, want)
	}
}

// TestClean covers the ftfy subset, HTML unescaping, white space and
// Python's lowercasing; want is what basic_clean, whitespace_clean and
// str.lower leave.
func TestClean(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"ascii", " Tab\tand  NEWLINE\n ", "tab and newline"},
		{"blank", " \t\n ", ""},
		{"curly quotes", "it\u2019s a \u201cdog\u201d", `it's a "dog"`},
		{"fullwidth", "ＬＯＵＤ\u3000ｃａｒ", "loud car"},
		{"halfwidth katakana", "ﾀｰﾝ", "ターン"},
		{"ligatures", "\ufb01sh \ufb02ag \u0149", "fish flag 'n"},
		{"c1 controls", "\u0093hi\u0094 \u0085", `"hi" …`},
		{"control chars", "a\x00b\x0bc\ufeffd", "abcd"},
		{"terminal escape", "\x1b[31mRed\x1b[0m car", "red car"},
		{"entities repeat", "Tom &amp;amp;amp; Jerry", "tom & jerry"},
		{"entities with lt", "a &amp;amp;amp; <b>", "a &amp; <b>"},
		{"lt on later line", "&amp;amp;amp;\n<b>", "& <b>"},
		{"partial entity", "this &notit; that", "this ¬it; that"},
		{"numeric entity", "&#x41;&#66;", "ab"},
		{"final sigma", "ΟΔΟΣ ΣΑ ΑΣ.", "οδος σα ας."},
		{"dotted capital i", "İstanbul", "i\u0307stanbul"},
		{"unicode spaces", "\u00a0a\u2003\u2003b\u205f", "a b"},
		{"invalid utf8", "a\xffb", "a\ufffdb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(clean(nil, c.in)); got != c.want {
				t.Errorf("clean(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a photo, of 2 cats!", []string{"a", "photo", ",", "of", "2", "cats", "!"}},
		{"100", []string{"1", "0", "0"}},
		{"it'll we're i'm he'd", []string{"it", "'ll", "we", "'re", "i", "'m", "he", "'d"}},
		{"!'s 's 'x", []string{"!'", "s", "'s", "'", "x"}},
		{"'\u017f", []string{"'\u017f"}},
		{"cat <|endoftext|>dog", []string{"cat", "<|endoftext|>", "dog"}},
		{"!<|endoftext|>", []string{"!<|", "endoftext", "|>"}},
		{"日本語のテキスト", []string{"日本語のテキスト"}},
		{"x² e\u0301", []string{"x", "²", "e", "\u0301"}},
		{"\x01\xff", []string{"\x01\xff"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			var got []string
			s := []byte(c.in)
			for i := 0; ; {
				start, end, _ := nextWord(s, i)
				if start < 0 {
					break
				}
				got = append(got, string(s[start:end]))
				i = end
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("words (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecialTokensInText(t *testing.T) {
	tok := clipTokenizer(t)
	if got := tok.Encode("<|ENDOFTEXT|>", 0); !slices.Equal(got, []int32{49406, 49407, 49407}) {
		t.Errorf("special token in text: %v, want [49406 49407 49407]", got)
	}
}

// tinyMerges builds a small tokenizer definition for tests that need no
// reference files.
var tinyMerges = []string{"c a", "ca t</w>", "d o", "do g</w>", "t h", "th e</w>"}

func TestNewDerived(t *testing.T) {
	tok, err := New(tinyMerges, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.VocabSize(), 512+len(tinyMerges)+2; got != want {
		t.Errorf("VocabSize = %d, want %d", got, want)
	}
	v := tok.Vocab()
	if v[0] != "!" || v[187] != "ÿ" || v[188] != "Ā" || v[256] != "!</w>" || v[512] != "ca" {
		t.Errorf("derived vocab order wrong: %q %q %q %q %q", v[0], v[187], v[188], v[256], v[512])
	}
	got := tok.Encode("The cat, a dog", 0)
	// the</w> cat</w> ,</w> a</w> dog</w>
	want := []int32{517, 513, 256 + 11, 320, 515}
	want = append(append([]int32{tok.StartID()}, want...), tok.EndID())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Encode (-want +got):\n%s", diff)
	}
	if got := tok.Decode(got); got != "<|startoftext|>the cat , a dog <|endoftext|>" {
		t.Errorf("Decode = %q", got)
	}
}

func TestLoadHFRoundTrip(t *testing.T) {
	tok, err := New(tinyMerges, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vocab := map[string]int{}
	for i, s := range tok.Vocab() {
		vocab[s] = i
	}
	js, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	vPath, mPath := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if err := os.WriteFile(vPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	mtxt := "#version: 0.2\n" + strings.Join(tok.Merges(), "\n") + "\n"
	if err := os.WriteFile(mPath, []byte(mtxt), 0o644); err != nil {
		t.Fatal(err)
	}
	merges, v, err := LoadHF(vPath, mPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok.Merges(), merges); diff != "" {
		t.Errorf("merges (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tok.Vocab(), v); diff != "" {
		t.Errorf("vocab (-want +got):\n%s", diff)
	}
	hf, err := New(merges, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"the cat", "a dog's toy", "Ça 123 !!"} {
		if diff := cmp.Diff(tok.Encode(text, 77), hf.Encode(text, 77)); diff != "" {
			t.Errorf("Encode(%q) derived vs HF (-want +got):\n%s", text, diff)
		}
	}
}

func TestAppendEncodeKeepsPrefix(t *testing.T) {
	tok := clipTokenizer(t)
	prefix := []int32{7, 8, 9}
	got := tok.AppendEncode(slices.Clone(prefix), strings.Repeat("a cat ", 20), 5)
	want := []int32{7, 8, 9, 49406, 320, 2368, 320, 49407}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendEncode (-want +got):\n%s", diff)
	}
}
