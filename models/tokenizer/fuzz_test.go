package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzTokenizer is the real CLIP tokenizer when the reference files are
// there, else a small derived one, so fuzzing works anywhere.
func fuzzTokenizer(f *testing.F) *Tokenizer {
	if _, err := os.Stat(filepath.Join(dataDir, "bpe_simple_vocab_16e6.txt.gz")); err == nil {
		return clipTokenizer(f)
	}
	tok, err := New(tinyMerges, nil)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func FuzzEncode(f *testing.F) {
	tok := fuzzTokenizer(f)
	for _, s := range []string{
		"a photo of a cat", "", "   ", "<|startoftext|><|endoftext|>", "it's", "'ſ",
		"&amp;amp;&#x93;&notit;<", "\x1b[31m\x1b[", "ΟΔΟΣ İ", "\xff\xfe\x00", "ﾀｰﾝ ﬃ",
		strings.Repeat("ab", 100), "日本語のテキスト 🚗🚶",
	} {
		f.Add(s, 77)
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, text string, contextLen int) {
		ids := tok.Encode(text, contextLen)
		if len(ids) < 2 || ids[0] != tok.StartID() || ids[len(ids)-1] != tok.EndID() {
			t.Fatalf("Encode(%q, %d) = %v: not framed by the special tokens", text, contextLen, ids)
		}
		if contextLen > 0 && len(ids) > max(contextLen, 2) {
			t.Fatalf("Encode(%q, %d) gave %d ids", text, contextLen, len(ids))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("Encode(%q) id %d outside the vocabulary", text, id)
			}
		}
		if again := tok.Encode(text, contextLen); len(again) != len(ids) {
			t.Fatalf("cached Encode(%q) gave %d ids, first time %d", text, len(again), len(ids))
		}
		if d := tok.Decode(ids); !utf8.ValidString(d) {
			t.Fatalf("Decode gave invalid UTF-8 %q", d)
		}
	})
}

// FuzzBPE checks the heap merge against the direct transcription on
// arbitrary words.
func FuzzBPE(f *testing.F) {
	tok := fuzzTokenizer(f)
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaa"))
	f.Add([]byte("catcatdogthe"))
	f.Fuzz(func(t *testing.T, word []byte) {
		if len(word) == 0 || len(word) > 4096 {
			return
		}
		scan := tok.bpeScan(nil, word)
		heap := tok.bpeHeap(nil, word)
		if len(scan) != len(heap) {
			t.Fatalf("word %q: scan %v, heap %v", word, scan, heap)
		}
		for i := range scan {
			if scan[i] != heap[i] {
				t.Fatalf("word %q: scan %v, heap %v", word, scan, heap)
			}
		}
	})
}

// FuzzNew feeds arbitrary merges files and HF vocab JSON to the parsers and
// New: errors are fine, panics are not, and a tokenizer that builds encodes.
func FuzzNew(f *testing.F) {
	f.Add("#version: 0.2\nc a\nca t</w>\n", "")
	f.Add("a b\nab c", `{"a": 0, "b": 1}`)
	f.Add("x  y\n", `{"<|startoftext|>": 0}`)
	f.Fuzz(func(t *testing.T, mergesTxt, vocabJSON string) {
		merges, err := parseMerges([]byte(mergesTxt), CLIPMerges)
		if err != nil {
			return
		}
		var vocab []string
		if vocabJSON != "" {
			if vocab, err = parseHFVocab([]byte(vocabJSON)); err != nil {
				return
			}
		}
		tok, err := New(merges, vocab)
		if err != nil {
			return
		}
		ids := tok.Encode("a cat, the dog!", 16)
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
	})
}
