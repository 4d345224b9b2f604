package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/query"
	_ "github.com/edgeclip/edgeclip/runtime/native"
	_ "github.com/edgeclip/edgeclip/tools/world"
)

func tinyModel(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := models.Write(p, models.RandomContents(models.TinyConfig(), 7)); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDaemonRunsAFiniteSource runs the whole daemon on 20 s of synthetic
// video (delivered as fast as it encodes), then reopens the data directory
// as a restart would.
func TestDaemonRunsAFiniteSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{
		ModelPath: tinyModel(t), DataDir: dir,
		Source:    "synth://?seed=4&fps=10&size=96x96&realtime=0&duration=20",
		SampleFPS: 5, Lossless: true,
	}
	d, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Alerts().Set(ctx, alert.Spec{Name: "circle", Text: "a red circle"}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := d.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	t.Logf("%s", st.Line())
	if st.Pipeline.Sampled != 100 || st.Pipeline.Encoded == 0 || st.Pipeline.Encoded+st.Pipeline.Gated != 100 {
		t.Errorf("pipeline %+v: want 100 sampled frames (20 s at 5 fps)", st.Pipeline)
	}
	if st.Source.State != "ended" {
		t.Errorf("source state %s, want ended", st.Source.State)
	}
	d.Close()

	// Restart: the history and the alert survive, and queries answer over it.
	d, err = New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := d.Store().Stats().Records; n != int(st.Pipeline.Encoded) {
		t.Errorf("after restart %d records, want %d", n, st.Pipeline.Encoded)
	}
	if l := d.Alerts().List(); len(l) != 1 || l[0].Name != "circle" {
		t.Errorf("alerts after restart: %+v", l)
	}
	res, err := d.Engine().Search(ctx, query.Request{Text: "a blue square", TopK: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scanned != int(st.Pipeline.Encoded) || len(res.Frames) != 5 {
		t.Errorf("query scanned %d frames, returned %d", res.Scanned, len(res.Frames))
	}
	if _, err := d.Store().Thumb(res.Frames[0].Seq); err != nil {
		t.Errorf("best frame thumbnail: %v", err)
	}
}

func TestDaemonBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]Options{
		"no data dir": {ModelPath: "x"},
		"no model":    {ModelPath: filepath.Join(t.TempDir(), "missing.safetensors"), DataDir: t.TempDir()},
		"bad backend": {ModelPath: tinyModel(t), DataDir: t.TempDir(), Backend: "nope"},
	} {
		if d, err := New(ctx, o); err == nil {
			d.Close()
			t.Errorf("%s: want error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
