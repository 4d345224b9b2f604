package shipped

import (
	"testing"

	"github.com/edgeclip/edgeclip/models"
)

// Every embedded model opens, verifies its hash and has a tokenizer.
func TestEmbeddedModelsOpen(t *testing.T) {
	names := Names()
	found := false
	for _, n := range names {
		found = found || n == Default
		p, err := Path(n, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f, err := models.Open(p)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(f.Tokenizer().Merges) == 0 {
			t.Errorf("%s: no tokenizer merges", n)
		}
		f.Close()
	}
	if !found {
		t.Errorf("default model %s not embedded (have %v)", Default, names)
	}
}
