package tokenizer

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean appends to dst the text as CLIP's
// whitespace_clean(basic_clean(text)).lower() would leave it. Plain printable
// ASCII without '&' takes a copy-free fast path; anything else goes through
// fixText and html.UnescapeString, which allocate.
func clean(dst []byte, text string) []byte {
	if plainASCII(text) {
		return cleanASCII(dst, text)
	}
	s := fixText(text)
	s = html.UnescapeString(html.UnescapeString(s))
	// whitespace_clean: collapse runs of white space into one space and trim.
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return appendLower(dst, b.String())
}

// plainASCII reports whether text holds only printable ASCII and ASCII
// white space other than \v (which ftfy deletes), and no '&'.
func plainASCII(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}

func cleanASCII(dst []byte, text string) []byte {
	space := false
	start := len(dst)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r':
			space = true
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if space && len(dst) > start {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
	}
	return dst
}

// appendLower lowercases s like Python's str.lower: full mappings (İ becomes
// "i̇") and the Final_Sigma rule, which Go's strings.ToLower lacks.
func appendLower(dst []byte, s string) []byte {
	for i, r := range s {
		switch r {
		case 'İ':
			dst = append(dst, "i\u0307"...)
		case 'Σ':
			if finalSigma(s, i) {
				dst = utf8.AppendRune(dst, 'ς')
			} else {
				dst = utf8.AppendRune(dst, 'σ')
			}
		default:
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}

// finalSigma applies Unicode's Final_Sigma condition to the Σ at s[i]: a cased
// letter before it and none after it, skipping case-ignorable characters.
func finalSigma(s string, i int) bool {
	j := i
	before := false
	for j > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:j])
		j -= n
		if !caseIgnorable(r) {
			before = cased(r)
			break
		}
	}
	if !before {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if !caseIgnorable(r) {
			return !cased(r)
		}
	}
	return true
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '·', 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// Word kinds returned by nextWord.
const (
	wordPlain = iota
	wordStart
	wordEnd
)

const (
	startToken = "<|startoftext|>"
	endToken   = "<|endoftext|>"
)

// nextWord finds the next match of CLIP's split pattern
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// in s at or after i. It returns the match bounds and kind, or start == -1
// when none is left. Like the regexp, specials and contractions match only
// where a match starts: a punctuation run swallows a '<' or '\” inside it.
func nextWord(s []byte, i int) (start, end, kind int) {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 'a' && c <= 'z':
				return i, letterRun(s, i+1), wordPlain
			case c >= '0' && c <= '9':
				return i, i + 1, wordPlain
			case c == ' ' || c >= '\t' && c <= '\r':
				i++
				continue
			case c == '<':
				if hasPrefix(s[i:], startToken) {
					return i, i + len(startToken), wordStart
				}
				if hasPrefix(s[i:], endToken) {
					return i, i + len(endToken), wordEnd
				}
			case c == '\'':
				if n := contraction(s[i+1:]); n > 0 {
					return i, i + 1 + n, wordPlain
				}
			case c >= 'A' && c <= 'Z':
				return i, letterRun(s, i+1), wordPlain
			}
			return i, otherRun(s, i+1), wordPlain
		}
		r, n := utf8.DecodeRune(s[i:])
		switch {
		case unicode.IsLetter(r):
			return i, letterRun(s, i+n), wordPlain
		case unicode.IsNumber(r):
			return i, i + n, wordPlain
		case unicode.IsSpace(r):
			i += n
			continue
		}
		return i, otherRun(s, i+n), wordPlain
	}
	return -1, -1, wordPlain
}

func letterRun(s []byte, i int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				i++
				continue
			}
			return i
		}
		r, n := utf8.DecodeRune(s[i:])
		if !unicode.IsLetter(r) {
			return i
		}
		i += n
	}
	return i
}

func otherRun(s []byte, i int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == ' ' || c >= '\t' && c <= '\r' {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSpace(r) {
			return i
		}
		i += n
	}
	return i
}

// contraction returns the length of the contraction suffix ("s", "re", ...)
// at the start of s, or 0. The pattern is compiled with IGNORECASE, so "ſ"
// (long s, which folds to s) also counts.
func contraction(s []byte) int {
	if len(s) == 0 {
		return 0
	}
	switch s[0] {
	case 's', 't', 'm', 'd', 'S', 'T', 'M', 'D':
		return 1
	case 'r', 'v', 'R', 'V':
		if len(s) > 1 && (s[1] == 'e' || s[1] == 'E') {
			return 2
		}
	case 'l', 'L':
		if len(s) > 1 && (s[1] == 'l' || s[1] == 'L') {
			return 2
		}
	case 0xc5:
		if len(s) > 1 && s[1] == 0xbf {
			return 2
		}
	}
	return 0
}

func hasPrefix(s []byte, p string) bool {
	return len(s) >= len(p) && string(s[:len(p)]) == p
}
