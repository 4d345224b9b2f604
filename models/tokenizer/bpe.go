package tokenizer

// byteOrder lists the bytes in bytes_to_unicode's order: the printable ones
// ('!'..'~', '¡'..'¬', '®'..'ÿ') first, then the rest ascending. Token id i < 256
// of a derived vocabulary is byte byteOrder()[i].
func byteOrder() []byte {
	order := make([]byte, 0, 256)
	for b := 0; b < 256; b++ {
		if printableByte(byte(b)) {
			order = append(order, byte(b))
		}
	}
	for b := 0; b < 256; b++ {
		if !printableByte(byte(b)) {
			order = append(order, byte(b))
		}
	}
	return order
}

func printableByte(b byte) bool {
	return b >= '!' && b <= '~' || b >= 0xa1 && b <= 0xac || b >= 0xae
}

// byteAlphabet is GPT-2's bytes_to_unicode: printable bytes stand for
// themselves, the others for U+0100 onward, so that no symbol is white space
// or a control character.
func byteAlphabet() [256]rune {
	var a [256]rune
	n := rune(0)
	for b := 0; b < 256; b++ {
		if printableByte(byte(b)) {
			a[b] = rune(b)
		} else {
			a[b] = 256 + n
			n++
		}
	}
	return a
}

// smallWord is the length up to which bpe merges in place on the stack.
const smallWord = 64

// bpe appends the ids of word, a non-empty byte string, merged by rank.
// Like simple_tokenizer.py it repeatedly takes the lowest-ranked adjacent
// pair and merges all its occurrences left to right. Long words use a heap
// so that hostile input stays O(n log n).
func (t *Tokenizer) bpe(dst []int32, word []byte) []int32 {
	if len(word) > smallWord {
		return t.bpeHeap(dst, word)
	}
	var buf [smallWord]int32
	return append(dst, t.bpeScan(buf[:0], word)...)
}

// initial returns the word's byte symbols, the last one marked "</w>".
func (t *Tokenizer) initial(syms []int32, word []byte) []int32 {
	for _, b := range word[:len(word)-1] {
		syms = append(syms, t.byteID[b])
	}
	return append(syms, t.byteEndID[word[len(word)-1]])
}

// bpeScan is simple_tokenizer.bpe transcribed, O(n²) but fast for the short
// words of real text: it keeps the merge of each adjacent pair and after a
// merge pass looks up only the pairs that touch a new symbol.
func (t *Tokenizer) bpeScan(syms []int32, word []byte) []int32 {
	syms = t.initial(syms, word)
	n := len(syms)
	var pairBuf, oldBuf [smallWord]merge
	var srcBuf [smallWord]int32
	pairs, old, src := pairBuf[:], oldBuf[:], srcBuf[:]
	if n > smallWord {
		pairs, old, src = make([]merge, n), make([]merge, n), make([]int32, n)
	}
	pairs = pairs[:n-1]
	for i := range pairs {
		pairs[i] = t.lookup(syms[i], syms[i+1])
	}
	for len(syms) > 1 {
		best := -1
		for i, m := range pairs {
			if m.rank >= 0 && (best < 0 || m.rank < pairs[best].rank) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		a, b, ab := syms[best], syms[best+1], pairs[best].id
		old = old[:len(pairs)]
		copy(old, pairs)
		// Merge every occurrence left to right; src[w] is the old index of
		// a symbol copied unchanged, -1 for a merged one.
		w := 0
		for i := 0; i < len(syms); w++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				syms[w], src[w] = ab, -1
				i += 2
			} else {
				syms[w], src[w] = syms[i], int32(i)
				i++
			}
		}
		syms, pairs = syms[:w], pairs[:w-1]
		for i := range pairs {
			if src[i] >= 0 && src[i+1] >= 0 {
				pairs[i] = old[src[i]]
			} else {
				pairs[i] = t.lookup(syms[i], syms[i+1])
			}
		}
	}
	return syms
}

func (t *Tokenizer) lookup(a, b int32) merge {
	if m, ok := t.pairs[pairKey(a, b)]; ok {
		return m
	}
	return merge{rank: -1}
}

// bpeHeap gives bpeScan's result with a heap of candidate pairs over a linked
// list of symbols. All pairs of one rank are merged as a batch, in position
// order, before pairs created by that batch are considered, which is what
// the scan does.
func (t *Tokenizer) bpeHeap(dst []int32, word []byte) []int32 {
	syms := t.initial(make([]int32, 0, len(word)), word)
	next := make([]int32, len(syms))
	prev := make([]int32, len(syms))
	for i := range syms {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[len(syms)-1] = -1
	h := make(pairHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.pairs[pairKey(syms[i], syms[i+1])]; ok {
			h.push(candidate{rank: m.rank, pos: int32(i)})
		}
	}
	var pending []candidate
	for len(h) > 0 {
		rank := h[0].rank
		for len(h) > 0 && h[0].rank == rank {
			c := h.pop()
			i := c.pos
			j := next[i]
			if syms[i] < 0 || j < 0 {
				continue
			}
			m, ok := t.pairs[pairKey(syms[i], syms[j])]
			if !ok || m.rank != rank {
				continue // stale: a neighbour changed since the push
			}
			syms[i], syms[j] = m.id, -1
			next[i] = next[j]
			if k := next[j]; k >= 0 {
				prev[k] = i
				if m2, ok := t.pairs[pairKey(syms[i], syms[k])]; ok {
					pending = append(pending, candidate{rank: m2.rank, pos: i})
				}
			}
			if p := prev[i]; p >= 0 {
				if m2, ok := t.pairs[pairKey(syms[p], syms[i])]; ok {
					pending = append(pending, candidate{rank: m2.rank, pos: p})
				}
			}
		}
		for _, c := range pending {
			h.push(c)
		}
		pending = pending[:0]
	}
	for i := int32(0); i >= 0; i = next[i] {
		dst = append(dst, syms[i])
	}
	return dst
}

type candidate struct {
	rank int32
	pos  int32
}

// pairHeap is a min-heap by (rank, pos); hand-written so that pushes do not
// box candidates into interfaces.
type pairHeap []candidate

func (h pairHeap) less(i, j int) bool {
	return h[i].rank < h[j].rank || h[i].rank == h[j].rank && h[i].pos < h[j].pos
}

func (h *pairHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *pairHeap) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r := l + 1; r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
