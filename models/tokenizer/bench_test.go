package tokenizer

import (
	"strconv"
	"testing"
)

// benchQuery is a typical 12-word search query.
const benchQuery = "a person in a red jacket walking a dog near the parked truck"

func BenchmarkEncode(b *testing.B) {
	tok := clipTokenizer(b)
	b.Run("warm", func(b *testing.B) {
		dst := tok.AppendEncode(make([]int32, 0, 77), benchQuery, 77)
		b.ReportAllocs()
		for b.Loop() {
			dst = tok.AppendEncode(dst[:0], benchQuery, 77)
		}
	})
	b.Run("cold", func(b *testing.B) {
		dst := make([]int32, 0, 77)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			tok.cache.mu.Lock()
			clear(tok.cache.m)
			tok.cache.mu.Unlock()
			b.StartTimer()
			dst = tok.AppendEncode(dst[:0], benchQuery, 77)
		}
	})
	b.Run("unicode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tok.Encode("Café “crème” brûlée — 日本語のテキスト", 77)
		}
	})
	for _, n := range []int{16, 256, 4096} {
		word := make([]byte, n)
		for i := range word {
			word[i] = "thermalimaging"[i%14]
		}
		b.Run("bpe-word-"+strconv.Itoa(n), func(b *testing.B) {
			var dst []int32
			b.ReportAllocs()
			for b.Loop() {
				dst = tok.bpe(dst[:0], word)
			}
		})
	}
}
