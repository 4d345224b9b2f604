package tokenizer

import (
	"html"
	"strings"
	"unicode/utf8"
)

// fixText is the subset of ftfy.fix_text (default config, ftfy 6) that CLIP's
// basic_clean runs and that can be done with the standard library:
//
//   - unescape_html="auto": ';'-terminated entities are decoded, repeatedly,
//     in the lines before the first line that contains '<';
//   - fix_c1_controls, fix_latin_ligatures, fix_character_width,
//     uncurl_quotes, remove_terminal_escapes, remove_control_chars.
//
// Not done (documented gaps): fix_encoding (mojibake repair such as
// "cafÃ©" → "café"), NFC normalization (decomposed input such as "e\u0301"
// stays decomposed), and ftfy's all-caps entities ("&EACUTE;"). fix_line_breaks
// is not needed: every line break becomes a space in whitespace cleanup.
func fixText(s string) string {
	s = unescapeAuto(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0x80 && r <= 0x9f {
			r = cp1252[r-0x80]
		}
		if lig, ok := ligatures[r]; ok {
			for _, l := range lig {
				writeWidthQuotes(&b, l)
			}
			continue
		}
		writeWidthQuotes(&b, r)
	}
	s = b.String()
	b.Reset()
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0x1b {
			if m := ansiLen(s[i:]); m > 0 {
				i += m
				continue
			}
		}
		i += n
		if !isControl(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeWidthQuotes applies fix_character_width, then uncurl_quotes.
func writeWidthQuotes(b *strings.Builder, r rune) {
	switch {
	case r >= 0xff01 && r <= 0xff5e:
		r -= 0xfee0
	case r == 0x3000:
		r = ' '
	default:
		if w, ok := widthForms[r]; ok {
			b.WriteString(w) // no quotes among these
			return
		}
	}
	switch {
	case r == 0x2bc || (r >= 0x2018 && r <= 0x201b):
		r = '\''
	case r >= 0x201c && r <= 0x201f:
		r = '"'
	}
	b.WriteRune(r)
}

// isControl reports the characters ftfy's remove_control_chars deletes.
func isControl(r rune) bool {
	switch {
	case r < 0x09, r == 0x0b, r >= 0x0e && r < 0x20, r == 0x7f:
		return true
	case r >= 0x206a && r <= 0x206f, r == 0xfeff, r >= 0xfff9 && r <= 0xfffc:
		return true
	}
	return false
}

// ansiLen returns the length of a terminal escape "\x1b[" [0-9;]* [A-Za-z] at
// the start of s, or 0.
func ansiLen(s string) int {
	if len(s) < 2 || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == ';':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// unescapeAuto decodes ';'-terminated HTML entities the way ftfy's
// unescape_html="auto" does: only in the lines before the first one holding
// '<', and until nothing changes (ftfy reruns its fixers to a fixed point).
func unescapeAuto(s string) string {
	end := len(s)
	if lt := strings.IndexByte(s, '<'); lt >= 0 {
		end = strings.LastIndexByte(s[:lt], '\n') + 1
	}
	head := s[:end]
	if strings.IndexByte(head, '&') < 0 {
		return s
	}
	for {
		next := unescapeSemicolon(head)
		if next == head {
			return head + s[end:]
		}
		head = next
	}
}

// unescapeSemicolon replaces each match of ftfy's &#?[0-9A-Za-z]{1,24}; that
// decodes as a whole entity.
func unescapeSemicolon(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '#' {
			j++
		}
		k := j
		for k < len(s) && k-j < 25 && isAlnum(s[k]) {
			k++
		}
		if k == j || k-j > 24 || k >= len(s) || s[k] != ';' {
			continue
		}
		ent := s[i : k+1]
		dec := html.UnescapeString(ent)
		// A partial decode (a prefix entity such as "&not" in "&notit;")
		// leaves the ';' behind; ftfy keeps such text as it is.
		if dec == ent || (strings.HasSuffix(dec, ";") && ent != "&semi;") {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(dec)
		last = k + 1
		i = k
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// cp1252 is ftfy's sloppy-windows-1252 for C1 controls U+0080..U+009F: the
// five bytes Windows leaves undefined map to themselves.
var cp1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
}

// ligatures is ftfy's fix_latin_ligatures table.
var ligatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}
