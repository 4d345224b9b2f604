package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgeclip/edgeclip/bench"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/pipeline"
)

func init() {
	benchPipeline = func(source string) (bench.Pipeline, error) {
		if _, err := camera.ParseURI(source); err != nil {
			return nil, err
		}
		return daemonPipeline{source: source}, nil
	}
}

// daemonPipeline measures the daemon's own per-frame path — capture,
// preprocessing, encoding, history append with thumbnail — with sampling and
// gating off, so every frame the source delivers is encoded.
type daemonPipeline struct{ source string }

func (p daemonPipeline) Measure(ctx context.Context, t bench.PipelineTarget, d time.Duration) (bench.PipelineResult, error) {
	res := bench.PipelineResult{Source: p.source}
	dir, err := os.MkdirTemp("", "edgeclip-bench-pipeline-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	store, err := history.Open(ctx, history.Options{Dir: dir})
	if err != nil {
		return res, err
	}
	defer store.Close()
	pre, err := preprocess.New(preprocess.Params{Size: t.Config.ImageSize, Mean: t.Config.Mean, Std: t.Config.Std})
	if err != nil {
		return res, err
	}
	q := camera.NewQueue(2)
	q.SetLossless(true)
	pl, err := pipeline.New(q, t.Session, store, nil, pipeline.Options{
		ModelHash: t.ModelHash, ModelName: t.Model, EmbedDim: t.Config.EmbedDim, Pre: pre,
		SampleFPS: 1e9, Gate: camera.GateOptions{Threshold: -1}, ThumbWidth: 160,
	})
	if err != nil {
		return res, err
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	capt := camera.NewCapture(camera.CaptureOptions{URI: p.source}, q)
	start := time.Now()
	capErr := make(chan error, 1)
	go func() { capErr <- capt.Run(cctx) }()
	if err := pl.Run(cctx); err != nil {
		return res, err
	}
	res.WallS = time.Since(start).Seconds()
	if err := <-capErr; err != nil && !errors.Is(err, io.EOF) {
		return res, fmt.Errorf("capture: %w", err)
	}
	st := pl.Stats()
	res.Frames = int(st.Encoded)
	// The capture counts a frame after handing it over, so one handed over
	// as the run stops can reach the encoder uncounted: never below zero.
	res.Dropped = max(0, int(capt.Stats().Frames)-int(st.Encoded))
	if res.WallS > 0 {
		res.FPS = float64(res.Frames) / res.WallS
	}
	return res, nil
}
