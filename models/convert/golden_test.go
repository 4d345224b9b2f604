package convert

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeclip/edgeclip/runtime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden pins every converted tensor's bytes (a sha256 each), the config
// and the tokenizer, for each fixture in f32 and f16. Regenerate after an
// intended change with: go test ./models/convert -run Golden -update
func TestGolden(t *testing.T) {
	for _, layout := range layoutNames {
		for _, dt := range []runtime.DType{runtime.F32, runtime.F16} {
			name := fmt.Sprintf("%s.%s", layout, strings.ToLower(dt.String()))
			t.Run(name, func(t *testing.T) {
				fx := loadFixture(t, layout)
				o := fx.options()
				o.DType = dt
				c, err := Convert(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				cfg, _ := json.Marshal(c.Config)
				tok, _ := json.Marshal(c.Tokenizer)
				fmt.Fprintf(&b, "config %s\ntokenizer sha256:%x\n", cfg, sha256.Sum256(tok))
				for _, ts := range c.Tensors {
					fmt.Fprintf(&b, "%s %s %v sha256:%x\n", ts.Name, ts.DType, ts.Shape, sha256.Sum256(ts.Data))
				}
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), b.String()); diff != "" {
					t.Errorf("%s (-golden +converted):\n%s", path, diff)
				}
			})
		}
	}
}
