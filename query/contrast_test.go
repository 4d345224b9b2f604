package query

import (
	"slices"
	"testing"
)

func TestContrasts(t *testing.T) {
	v := Vocabulary{
		{"red", "blue", "orange", "grey|gray"},
		{"circle|disc", "square", "cross"},
	}
	cases := []struct {
		text string
		want []string
	}{
		{"a red circle", []string{"a blue circle", "an orange circle", "a grey circle", "a red square", "a red cross"}},
		// Synonyms are never contrasts of each other; the first word stands for its group.
		{"a gray disc", []string{"a red disc", "a blue disc", "an orange disc", "a gray square", "a gray cross"}},
		// Plurals keep their number; punctuation and case survive as lower case.
		{"Two RED crosses.", []string{"two blue crosses.", "two orange crosses.", "two grey crosses.",
			"two red circles.", "two red squares."}},
		{"a person at the door", nil},
		{"", nil},
	}
	for _, c := range cases {
		if got := v.Contrasts(c.text); !slices.Equal(got, c.want) {
			t.Errorf("Contrasts(%q)\n got %q\nwant %q", c.text, got, c.want)
		}
	}
	// Bounded however many vocabulary words a query holds.
	long := "red circle red circle red circle red circle red circle red circle red circle"
	if n := len(DefaultVocabulary.Contrasts(long)); n != MaxContrasts {
		t.Errorf("%d contrasts for a long query, want the cap %d", n, MaxContrasts)
	}
	if got := Vocabulary(nil).Contrasts("a red circle"); got != nil {
		t.Errorf("nil vocabulary: %q, want none", got)
	}
}

func TestNegativePrompts(t *testing.T) {
	v := Vocabulary{{"red", "blue"}}
	got := NegativePrompts("a red car", []string{"a photo of the background", "a blue car"}, []string{"a red car", "a red bus"}, v)
	want := []string{"a photo of the background", "a blue car", "a red bus"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (no duplicates, never the query itself)", got, want)
	}
}

func TestParseVocabulary(t *testing.T) {
	v, err := ParseVocabulary([]string{"red blue grey|gray", "car  truck|lorry"})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Contrasts("a red lorry"); !slices.Equal(got, []string{"a blue lorry", "a grey lorry", "a red car"}) {
		t.Errorf("contrasts %q", got)
	}
	for _, bad := range [][]string{{"red"}, {"red Blue"}, {"red blue|"}, {""}} {
		if _, err := ParseVocabulary(bad); err == nil {
			t.Errorf("ParseVocabulary(%q): want an error", bad)
		}
	}
}
