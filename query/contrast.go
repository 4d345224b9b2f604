package query

import (
	"fmt"
	"regexp"
	"strings"
)

// Contrast prompts are the query's near misses: the query with one word
// swapped for another of the same kind ("a red circle" → "a blue circle",
// "a red square"). Generic background negatives only ask "is there
// something rather than nothing?", so a frame showing a red square passes
// for "a red circle": it shares half the description and beats "an empty
// scene" easily. Against its own near misses the query wins only on frames
// that match it in every attribute the vocabulary knows — the zero-shot
// classification CLIP is good at, applied to each attribute of the query.
//
// Substitutes come from classes of mutually exclusive words (colours,
// shapes, vehicles, ...). A class is a list of groups of synonyms; a word is
// replaced by the first word of every other group of its class, never by a
// synonym. Words outside the vocabulary are left alone, so a query the
// vocabulary knows nothing about gets no contrasts and falls back to the
// background negatives.

// Vocabulary is the set of word classes used to build contrast prompts.
// Each class lists groups; a group is one word or synonyms joined by "|"
// ("grey|gray").
type Vocabulary [][]string

// DefaultVocabulary holds common mutually exclusive words a camera query
// uses. The shapes are those of the synthetic world the shipped models are
// trained on; the other classes serve real CLIP checkpoints.
var DefaultVocabulary = Vocabulary{
	{"red", "green", "blue", "yellow", "purple|violet", "orange", "pink", "cyan", "white", "black", "grey|gray", "brown"},
	{"circle|disc|disk", "square", "triangle", "star", "cross", "hexagon", "diamond", "ring"},
	{"car", "truck|lorry", "bus", "van", "motorcycle|motorbike", "bicycle|bike"},
	{"person|man|woman|people|pedestrian", "dog", "cat", "bird"},
}

// MaxContrasts bounds the prompts one query adds (each costs a text encode
// once, then a dot product per frame).
const MaxContrasts = 24

type vocabWord struct{ class, group int }

func (v Vocabulary) index() map[string]vocabWord {
	m := map[string]vocabWord{}
	for c, class := range v {
		for g, group := range class {
			for _, w := range strings.Split(group, "|") {
				m[w] = vocabWord{c, g}
			}
		}
	}
	return m
}

// Contrasts returns the query's contrast prompts: for each word of text
// found in the vocabulary (singular or plural), the text with that word
// replaced by each other group's first word, articles fixed ("a red" →
// "an orange"). At most MaxContrasts, in order of the words; nil when text
// holds no vocabulary word.
func (v Vocabulary) Contrasts(text string) []string {
	idx := v.index()
	words := strings.Fields(strings.ToLower(text))
	var out []string
	seen := map[string]bool{strings.Join(words, " "): true}
	for i, w := range words {
		stem, suffix := splitPunct(w)
		base, plural := stem, ""
		vw, ok := idx[base]
		if !ok {
			for _, s := range []string{"es", "s"} {
				if b, found := strings.CutSuffix(stem, s); found {
					if vw, ok = idx[b]; ok {
						base, plural = b, s
						break
					}
				}
			}
		}
		if !ok {
			continue
		}
		for g, group := range v[vw.class] {
			if g == vw.group {
				continue
			}
			sub := strings.SplitN(group, "|", 2)[0]
			if plural != "" {
				sub = pluralize(sub)
			}
			alt := append([]string(nil), words...)
			alt[i] = sub + suffix
			if i > 0 && (alt[i-1] == "a" || alt[i-1] == "an") {
				alt[i-1] = articleFor(sub)
			}
			s := strings.Join(alt, " ")
			if seen[s] {
				continue
			}
			seen[s] = true
			out = append(out, s)
			if len(out) == MaxContrasts {
				return out
			}
		}
	}
	return out
}

// splitPunct separates trailing punctuation ("circle," → "circle", ",").
func splitPunct(w string) (string, string) {
	i := len(w)
	for i > 0 && strings.ContainsRune(".,;:!?", rune(w[i-1])) {
		i--
	}
	return w[:i], w[i:]
}

func pluralize(w string) string {
	if strings.HasSuffix(w, "s") || strings.HasSuffix(w, "x") || strings.HasSuffix(w, "ch") || strings.HasSuffix(w, "sh") {
		return w + "es"
	}
	if w == "person" {
		return "people"
	}
	return w + "s"
}

func articleFor(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an"
	}
	return "a"
}

// ParseVocabulary reads classes written one per string, groups separated by
// spaces and synonyms by "|": "red green blue grey|gray". Each class needs
// at least two groups; words are lower case letters, digits and hyphens.
func ParseVocabulary(classes []string) (Vocabulary, error) {
	v := Vocabulary{}
	for i, c := range classes {
		groups := strings.Fields(c)
		if len(groups) < 2 {
			return nil, fmt.Errorf("query: vocabulary class %d %q: want at least two words to swap", i+1, c)
		}
		for _, g := range groups {
			for _, w := range strings.Split(g, "|") {
				if !vocabWordRE.MatchString(w) {
					return nil, fmt.Errorf("query: vocabulary class %d: word %q: want lower-case letters, digits and hyphens", i+1, w)
				}
			}
		}
		v = append(v, groups)
	}
	return v, nil
}

var vocabWordRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
