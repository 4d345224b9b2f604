// Package tokenizer is CLIP's byte-level BPE tokenizer, a port of OpenAI's
// simple_tokenizer.py that gives the same ids.
//
// Text goes through the same steps: cleanup (a stdlib subset of ftfy, double
// HTML unescape, white space collapse, lowercase), splitting into words with
// CLIP's pattern, mapping each word's UTF-8 bytes to symbols with GPT-2's
// bytes_to_unicode table, marking the word end with "</w>" and merging symbol
// pairs by rank. Words are cached, so steady-state encoding of repeated
// queries allocates nothing.
//
// Gaps against ftfy (see fixText): no mojibake repair and no NFC
// normalization, so text with broken encodings or decomposed accents can give
// other ids than the Python tokenizer.
package tokenizer

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
)

// Limits on untrusted tokenizer definitions.
const (
	maxVocab = 1 << 22
	// maxCachedWord bounds the word length kept in the cache, so odd inputs
	// cannot fill memory.
	maxCachedWord = 64
	cacheEntries  = 1 << 14
	// maxPooledBuf is the largest cleanup buffer returned to the pool.
	maxPooledBuf = 1 << 16
)

// Tokenizer encodes text to CLIP token ids. It is safe for concurrent use.
type Tokenizer struct {
	merges []string
	vocab  []string

	pairs     map[uint64]merge // (left id, right id) → merge
	byteID    [256]int32       // byte → its symbol inside a word
	byteEndID [256]int32       // byte → its symbol ending a word ("…</w>")
	start     int32
	end       int32

	// decoded holds each token's bytes back-mapped from the byte alphabet,
	// token i at decoded[offsets[i]:offsets[i+1]].
	decoded []byte
	offsets []int32

	cache wordCache
	bufs  sync.Pool // *[]byte cleanup buffers
}

type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// New builds a tokenizer from BPE merges in priority order ("a b" each) and
// the vocabulary in id order. With vocab nil the vocabulary is derived as
// OpenAI does: the 256 byte symbols, the same with "</w>", one token per
// merge, then <|startoftext|> and <|endoftext|>.
func New(merges []string, vocab []string) (*Tokenizer, error) {
	if len(merges) > maxVocab {
		return nil, fmt.Errorf("tokenizer: %d merges, more than the limit %d", len(merges), maxVocab)
	}
	left := make([]string, len(merges))
	right := make([]string, len(merges))
	for i, m := range merges {
		a, b, ok := splitMerge(m)
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d %q: want two tokens separated by one space", i, m)
		}
		left[i], right[i] = a, b
	}
	if vocab == nil {
		vocab = deriveVocab(left, right)
	} else {
		vocab = slices.Clone(vocab)
	}
	if len(vocab) > maxVocab {
		return nil, fmt.Errorf("tokenizer: vocabulary of %d tokens, more than the limit %d", len(vocab), maxVocab)
	}
	ids := make(map[string]int32, len(vocab))
	for i, tok := range vocab {
		if j, dup := ids[tok]; dup {
			return nil, fmt.Errorf("tokenizer: vocab token %q at id %d duplicates id %d", tok, i, j)
		}
		ids[tok] = int32(i)
	}
	t := &Tokenizer{
		merges: slices.Clone(merges),
		vocab:  vocab,
		pairs:  make(map[uint64]merge, len(merges)),
	}
	var ok bool
	if t.start, ok = ids[startToken]; !ok {
		return nil, fmt.Errorf("tokenizer: vocabulary lacks the special token %q", startToken)
	}
	if t.end, ok = ids[endToken]; !ok {
		return nil, fmt.Errorf("tokenizer: vocabulary lacks the special token %q", endToken)
	}
	alphabet := byteAlphabet()
	for b, r := range alphabet {
		sym := string(r)
		if t.byteID[b], ok = ids[sym]; !ok {
			return nil, fmt.Errorf("tokenizer: vocabulary lacks the byte symbol %q (byte %#02x)", sym, b)
		}
		if t.byteEndID[b], ok = ids[sym+"</w>"]; !ok {
			return nil, fmt.Errorf("tokenizer: vocabulary lacks the byte symbol %q (byte %#02x)", sym+"</w>", b)
		}
	}
	for i := range merges {
		a, okA := ids[left[i]]
		b, okB := ids[right[i]]
		ab, okAB := ids[left[i]+right[i]]
		switch {
		case !okA:
			return nil, fmt.Errorf("tokenizer: merge %d %q: token %q not in vocabulary", i, merges[i], left[i])
		case !okB:
			return nil, fmt.Errorf("tokenizer: merge %d %q: token %q not in vocabulary", i, merges[i], right[i])
		case !okAB:
			return nil, fmt.Errorf("tokenizer: merge %d %q: merged token %q not in vocabulary", i, merges[i], left[i]+right[i])
		}
		k := pairKey(a, b)
		if prev, dup := t.pairs[k]; dup {
			return nil, fmt.Errorf("tokenizer: merge %d %q duplicates merge %d", i, merges[i], prev.rank)
		}
		t.pairs[k] = merge{rank: int32(i), id: ab}
	}
	t.buildDecoder(alphabet)
	t.cache.m = make(map[string][]int32)
	t.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	return t, nil
}

// splitMerge splits "a b" into its two non-empty tokens.
func splitMerge(m string) (a, b string, ok bool) {
	i := -1
	for j := 0; j < len(m); j++ {
		if m[j] == ' ' {
			if i >= 0 {
				return "", "", false
			}
			i = j
		}
	}
	if i <= 0 || i == len(m)-1 {
		return "", "", false
	}
	return m[:i], m[i+1:], true
}

func deriveVocab(left, right []string) []string {
	alphabet := byteAlphabet()
	order := byteOrder()
	vocab := make([]string, 0, 512+len(left)+2)
	for _, b := range order {
		vocab = append(vocab, string(alphabet[b]))
	}
	for _, b := range order {
		vocab = append(vocab, string(alphabet[b])+"</w>")
	}
	for i := range left {
		vocab = append(vocab, left[i]+right[i])
	}
	return append(vocab, startToken, endToken)
}

func (t *Tokenizer) buildDecoder(alphabet [256]rune) {
	var back [324]int16 // alphabet runes are all below 324
	for i := range back {
		back[i] = -1
	}
	for b, r := range alphabet {
		back[r] = int16(b)
	}
	t.offsets = make([]int32, 1, len(t.vocab)+1)
	for _, tok := range t.vocab {
		for _, r := range tok {
			if r >= 0 && int(r) < len(back) && back[r] >= 0 {
				t.decoded = append(t.decoded, byte(back[r]))
			} else {
				t.decoded = utf8.AppendRune(t.decoded, r)
			}
		}
		t.offsets = append(t.offsets, int32(len(t.decoded)))
	}
}

// Encode returns <|startoftext|>, the text's tokens and <|endoftext|>,
// without padding. With contextLen > 0 a longer result is cut to contextLen
// ids with <|endoftext|> kept last (contextLen below 2 counts as 2);
// contextLen <= 0 means no limit.
func (t *Tokenizer) Encode(text string, contextLen int) []int32 {
	return t.AppendEncode(nil, text, contextLen)
}

// AppendEncode is Encode appending to dst. It allocates nothing when every
// word is cached, the text is plain ASCII and dst has room.
func (t *Tokenizer) AppendEncode(dst []int32, text string, contextLen int) []int32 {
	if contextLen > 0 && contextLen < 2 {
		contextLen = 2
	}
	bp := t.bufs.Get().(*[]byte)
	s := clean((*bp)[:0], text)
	base := len(dst)
	dst = append(dst, t.start)
	for i := 0; ; {
		if contextLen > 0 && len(dst)-base >= contextLen {
			break // the rest would be cut off anyway
		}
		start, end, kind := nextWord(s, i)
		if start < 0 {
			break
		}
		i = end
		switch kind {
		case wordStart:
			dst = append(dst, t.start)
		case wordEnd:
			dst = append(dst, t.end)
		default:
			dst = t.appendWord(dst, s[start:end])
		}
	}
	dst = append(dst, t.end)
	if contextLen > 0 && len(dst)-base > contextLen {
		dst = dst[:base+contextLen]
		dst[len(dst)-1] = t.end
	}
	if cap(s) <= maxPooledBuf {
		*bp = s[:0]
		t.bufs.Put(bp)
	}
	return dst
}

// appendWord appends the BPE ids of one word, through the cache.
func (t *Tokenizer) appendWord(dst []int32, word []byte) []int32 {
	if ids, ok := t.cache.get(word); ok {
		return append(dst, ids...)
	}
	n := len(dst)
	dst = t.bpe(dst, word)
	if len(word) <= maxCachedWord {
		t.cache.put(string(word), slices.Clone(dst[n:]))
	}
	return dst
}

// Decode turns ids back into text as simple_tokenizer.py does: "</w>" becomes
// a space and the special tokens appear literally. Ids outside the vocabulary
// decode to U+FFFD, as does each byte that is not valid UTF-8.
func (t *Tokenizer) Decode(ids []int32) string {
	var raw []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.vocab) {
			raw = append(raw, "\uFFFD"...)
			continue
		}
		raw = append(raw, t.decoded[t.offsets[id]:t.offsets[id+1]]...)
	}
	raw = bytes.ReplaceAll(raw, []byte("</w>"), []byte(" "))
	out := make([]byte, 0, len(raw))
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		out = utf8.AppendRune(out, r)
		raw = raw[n:]
	}
	return string(out)
}

// VocabSize is the number of token ids.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// StartID is the id of <|startoftext|>.
func (t *Tokenizer) StartID() int32 { return t.start }

// EndID is the id of <|endoftext|>.
func (t *Tokenizer) EndID() int32 { return t.end }

// Merges returns a copy of the merges in priority order, for writing the
// model file.
func (t *Tokenizer) Merges() []string { return slices.Clone(t.merges) }

// Vocab returns a copy of the vocabulary in id order.
func (t *Tokenizer) Vocab() []string { return slices.Clone(t.vocab) }

// wordCache maps a word to its ids. It is bounded: when full, an arbitrary
// entry (Go's map iteration order is random) makes room.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) get(word []byte) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[string(word)]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(word string, ids []int32) {
	c.mu.Lock()
	if len(c.m) >= cacheEntries {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[word] = ids
	c.mu.Unlock()
}
