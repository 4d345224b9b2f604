package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden renders stored reports as a table and as benchstat lines and
// compares both with the golden files: testdata/report.json is a real v1.0
// run of the tiny preset, testdata/report-eval.json a real v1.1 run with
// --eval of the shipped int8 model (evaluated) and the tiny preset (not),
// testdata/report-peak.json a real v1.2 run with the measured peak.
// Decoding them with unknown fields refused also catches a rename that would
// need a new major schema version.
func TestGolden(t *testing.T) {
	for _, fx := range []struct{ report, table, benchstat string }{
		{"report.json", "table.golden", "benchstat.golden"},
		{"report-eval.json", "table-eval.golden", "benchstat-eval.golden"},
		{"report-peak.json", "table-peak.golden", "benchstat-peak.golden"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", fx.report))
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("testdata/%s no longer decodes as %s: %v", fx.report, Schema, err)
		}
		for _, tc := range []struct {
			name  string
			write func(*bytes.Buffer, *Report) error
		}{
			{fx.table, func(b *bytes.Buffer, r *Report) error { return WriteTable(b, r) }},
			{fx.benchstat, func(b *bytes.Buffer, r *Report) error { return WriteBenchstat(b, r) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got bytes.Buffer
				if err := tc.write(&got, &rep); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", tc.name)
				if *update {
					if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("%s differs (go test ./bench -run Golden -update to accept):\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
				}
			})
		}
	}
}
