package bench

import (
	"context"
	"time"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// Pipeline measures end-to-end throughput on a video source: frames decoded,
// preprocessed, encoded by the run's session and stored. bench owns the
// loop over models, backends and precisions; whoever links a pipeline
// implementation (the edgeclip command, given --source) sets
// Options.Pipeline, and each run then reports a PipelineResult. With no
// Pipeline the report says why in Report.PipelineNote.
type Pipeline interface {
	// Measure runs the pipeline on t.Session for about d (at least one
	// frame) and reports what it saw. It must stop when ctx is done.
	Measure(ctx context.Context, t PipelineTarget, d time.Duration) (PipelineResult, error)
}

// PipelineTarget is the run a Pipeline measures.
type PipelineTarget struct {
	Model     string
	ModelHash string
	Config    arch.Config
	Session   runtime.Session
}

// PipelineResult is one end-to-end measurement.
type PipelineResult struct {
	// Source is the URI frames came from ("synth://", a file, rtsp://…).
	Source string  `json:"source"`
	Frames int     `json:"frames"`
	WallS  float64 `json:"wall_s"`
	// FPS is Frames / WallS: frames that went all the way through.
	FPS float64 `json:"fps"`
	// Dropped counts frames the source delivered that the pipeline skipped
	// (newest-frame queue or change gate).
	Dropped int `json:"dropped"`
}

// noPipeline is Report.PipelineNote when Options.Pipeline is nil.
const noPipeline = "not measured (no --source)"
