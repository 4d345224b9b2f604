package pipeline

import (
	"bytes"
	"context"
	"image/jpeg"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// countingObserver fires a start event on every 3rd stored frame, so the test
// can check that events reach OnEvent with history sequence numbers.
type countingObserver struct{ seqs []uint64 }

func (c *countingObserver) Observe(seq uint64, t time.Time, emb []float32) []alert.Event {
	c.seqs = append(c.seqs, seq)
	if len(c.seqs)%3 == 0 {
		return []alert.Event{{Name: "x", Kind: alert.Start, Time: t, BestSeq: seq}}
	}
	return nil
}

func TestPipelineStoresEncodedFrames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mpath := filepath.Join(dir, "tiny.safetensors")
	if err := models.Write(mpath, models.RandomContents(models.TinyConfig(), 1)); err != nil {
		t.Fatal(err)
	}
	m, err := models.Open(mpath)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.Config()
	sess, err := native.Backend{}.Open(ctx, m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	pre, err := preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std})
	if err != nil {
		t.Fatal(err)
	}
	store, err := history.Open(ctx, history.Options{Dir: filepath.Join(dir, "history")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	q := camera.NewQueue(64)
	obs := &countingObserver{}
	var events []alert.Event
	p, err := New(q, sess, store, obs, Options{
		ModelHash: m.Hash(), ModelName: m.Name(), EmbedDim: cfg.EmbedDim, Pre: pre,
		SampleFPS: 5, Gate: camera.GateOptions{Threshold: 0.01, KeepAlive: time.Hour}, ThumbWidth: 32,
		OnEvent: func(e alert.Event) { events = append(events, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 40 frames at 10 fps: the first 20 change every frame, the last 20 are static.
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 40 {
		f := &camera.Frame{Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * 100 * time.Millisecond),
			Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 64*48*3)}
		v := byte(min(i, 20) * 12)
		for j := range f.Pix {
			f.Pix[j] = v
		}
		q.Push(f)
	}
	q.Close()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	// 10 fps sampled at 5 fps → 20 sampled; the 10 static ones after the change stops are gated (but the first).
	if st.Frames != 40 || st.Sampled != 20 || st.Encoded+st.Gated != 20 || st.Gated < 8 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
	if got := store.Stats().Records; got != int(st.Encoded) {
		t.Errorf("store has %d records, pipeline encoded %d", got, st.Encoded)
	}
	rec, err := store.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if rec.ModelHash != m.Hash() || len(rec.Embedding) != cfg.EmbedDim {
		t.Errorf("latest record %q dim %d", rec.ModelHash, len(rec.Embedding))
	}
	img, err := jpeg.Decode(bytes.NewReader(rec.Thumb))
	if err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 24 {
		t.Errorf("thumbnail: %v %v", err, img)
	}
	if len(events) != len(obs.seqs)/3 || events[0].BestSeq != obs.seqs[2] {
		t.Errorf("events %+v for observed seqs %v", events, obs.seqs)
	}
}
