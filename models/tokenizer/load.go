package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// CLIPMerges is how many merges CLIP uses: a 49,152-token BPE vocabulary less
// the 256 byte symbols and 2 specials (the "</w>" byte symbols come on top).
const CLIPMerges = 49152 - 256 - 2

// maxFileBytes bounds what the loaders read (after decompression); the real
// files are under 2 MB.
const maxFileBytes = 64 << 20

// LoadCLIPBPE reads OpenAI's bpe_simple_vocab_16e6.txt, gzipped or not, and
// returns the merges CLIP uses: the lines after the "#version" line, at most
// CLIPMerges of them.
func LoadCLIPBPE(path string) (merges []string, err error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	merges, err = parseMerges(data, CLIPMerges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return merges, nil
}

// LoadHF reads a Hugging Face CLIP tokenizer's vocab.json ({"token": id})
// and merges.txt and returns the merges and the vocabulary in id order, ready
// for New.
func LoadHF(vocabJSON, mergesTXT string) (merges, vocab []string, err error) {
	data, err := readFile(vocabJSON)
	if err != nil {
		return nil, nil, err
	}
	if vocab, err = parseHFVocab(data); err != nil {
		return nil, nil, fmt.Errorf("tokenizer: %s: %w", vocabJSON, err)
	}
	if data, err = readFile(mergesTXT); err != nil {
		return nil, nil, err
	}
	if merges, err = parseMerges(data, CLIPMerges); err != nil {
		return nil, nil, fmt.Errorf("tokenizer: %s: %w", mergesTXT, err)
	}
	return merges, vocab, nil
}

// readFile reads a whole file, through gzip when it starts with gzip's
// magic number, refusing more than maxFileBytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("tokenizer: %s: larger than %d bytes", path, maxFileBytes)
	}
	return data, nil
}

// parseMerges splits a merges file into lines, drops a first line holding
// "#version" (OpenAI's starts with a stray file name before it) and keeps at
// most limit merges. A line that is not "a b" is an error naming its line
// number; blank lines at the end are ignored.
func parseMerges(data []byte, limit int) ([]string, error) {
	text := strings.TrimRight(string(data), "\r\n")
	if text == "" {
		return nil, errors.New("no merges")
	}
	lines := strings.Split(text, "\n")
	first := 0
	if strings.Contains(lines[0], "#version") {
		first = 1
	}
	lines = lines[first:]
	if len(lines) > limit {
		lines = lines[:limit]
	}
	merges := make([]string, len(lines))
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if _, _, ok := splitMerge(l); !ok {
			return nil, fmt.Errorf("line %d %q: want two tokens separated by one space", i+first+1, l)
		}
		merges[i] = l
	}
	return merges, nil
}

// parseHFVocab turns {"token": id, ...} into the tokens in id order. Ids must
// be 0..n-1, each used once.
func parseHFVocab(data []byte) ([]string, error) {
	var m map[string]int64
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	if dec.More() {
		return nil, errors.New("vocab: data after the JSON object")
	}
	if len(m) == 0 || len(m) > maxVocab {
		return nil, fmt.Errorf("vocab: %d tokens, want 1..%d", len(m), maxVocab)
	}
	vocab := make([]string, len(m))
	seen := make([]bool, len(m))
	for tok, id := range m {
		if id < 0 || id >= int64(len(m)) {
			return nil, fmt.Errorf("vocab: token %q: id %d outside 0..%d", tok, id, len(m)-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("vocab: token %q: id %d also used by %q", tok, id, vocab[id])
		}
		vocab[id], seen[id] = tok, true
	}
	return vocab, nil
}
