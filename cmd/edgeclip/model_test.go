package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/runtime"
)

// TestModelFlagsPrecision: --precision auto (the default) runs a quantized
// file at the precision its report records and an fp32 file at f32; an
// explicit precision wins.
func TestModelFlagsPrecision(t *testing.T) {
	dir := t.TempDir()
	fp32 := writeTiny(t, dir)
	q := filepath.Join(dir, "tiny-int8.safetensors")
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"quantize", "--model", fp32, "--mode", "w8", "--out", q,
		"--calib", "world:seed=9,n=4", "--eval-n", "0", "--force"}, &out, &errb); code != 0 {
		t.Fatalf("quantize: exit %d\n%s\n%s", code, &out, &errb)
	}
	for _, tc := range []struct {
		name, model, flag string
		want              runtime.Precision
		err               string
	}{
		{"auto int8 file", q, "", runtime.W8, ""},
		{"auto fp32 file", fp32, "auto", runtime.FP32, ""},
		{"explicit wins", q, "w8a8", runtime.W8A8, ""},
		{"explicit f32", q, "F32", runtime.FP32, ""},
		{"unknown", q, "f8", "", `--precision: unknown precision "f8"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlags("test", "", &errb)
			var mf modelFlags
			mf.register(fs)
			args := []string{"--model", tc.model, "--threads", "1"}
			if tc.flag != "" {
				args = append(args, "--precision", tc.flag)
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			m, err := mf.open(context.Background())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.prec != tc.want || mf.precision != string(tc.want) {
				t.Errorf("session precision %q, flag now %q; want %q", m.prec, mf.precision, tc.want)
			}
		})
	}
}
