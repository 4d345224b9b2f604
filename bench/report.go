package bench

import (
	"time"

	"github.com/edgeclip/edgeclip/board"
	"github.com/edgeclip/edgeclip/models/arch"
)

// Schema names the JSON layout of Report. A change that removes or renames a
// field, or changes a unit, bumps the major version; new fields bump the
// minor one, so a reader of v1 reads any v1.x by ignoring what it does not
// know. v1.1 added the world evaluation (settings.eval, runs[].eval,
// models[].eval_note); v1.2 the measured per-core peak (peak) and each
// timing's share of it (peak_pct); v1.3 settings.rounds.
const Schema = "edgeclip.bench/v1.3"

// Report is one bench run: every field is documented in docs/bench.md.
type Report struct {
	Schema   string    `json:"schema"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Host     Host      `json:"host"`
	Board    Board     `json:"board"`
	Settings Settings  `json:"settings"`
	Models   []Model   `json:"models"`
	// Peak is one core's measured arithmetic ceiling; absent when skipped.
	Peak *Peak `json:"peak,omitempty"`
	// Pipeline says why end-to-end fps was not measured ("no --source"), or
	// is empty when each RunReport carries a Pipeline result.
	PipelineNote string `json:"pipeline_note,omitempty"`
}

// Host is the machine as the Go runtime and the kernel see it. Load averages
// matter on a shared machine: other work there slows every figure.
type Host struct {
	GOOS          string     `json:"goos"`
	GOARCH        string     `json:"goarch"`
	GoVersion     string     `json:"go_version"`
	NumCPU        int        `json:"num_cpu"`
	GOMAXPROCS    int        `json:"gomaxprocs"`
	LoadAvgBefore [3]float64 `json:"loadavg_before"`
	LoadAvgAfter  [3]float64 `json:"loadavg_after"`
}

// Peak is what one core of this machine can do at most, timed with
// register-only loops of the instructions the native kernels are built on
// (kernels.MeasurePeak): achieved GFLOP/s are judged against it.
type Peak struct {
	F32GFLOPS float64 `json:"f32_gflops_per_core"`
	F32Op     string  `json:"f32_op"`
	I8GOPS    float64 `json:"i8_gops_per_core"`
	I8Op      string  `json:"i8_op"`
}

// Board is the hardware description and telemetry before and after the run.
type Board struct {
	Info   board.Info   `json:"info"`
	Before board.Sample `json:"before"`
	After  board.Sample `json:"after"`
	// Throttled is true when either sample lists a throttling reason.
	Throttled bool `json:"throttled"`
}

// Settings echo what was asked for, after defaults.
type Settings struct {
	Backends      []string `json:"backends"`
	Precisions    []string `json:"precisions"`
	Batches       []int    `json:"batches"`
	Threads       []int    `json:"threads"`
	TextTokens    []int    `json:"text_tokens"`
	DurationMS    float64  `json:"duration_ms,omitempty"`
	Iters         int      `json:"iters,omitempty"`
	Warmup        int      `json:"warmup"`
	Rounds        int      `json:"rounds,omitempty"`
	HistoryFrames int      `json:"history_frames"`
	Reference     string   `json:"reference"`
	// Eval is true when runs were evaluated on the synthetic world.
	Eval bool `json:"eval,omitempty"`
}

// Model is everything measured for one model file or architecture preset.
type Model struct {
	Name string `json:"name"`
	// Source is "arch:<preset>" for random weights or the file path.
	Source    string      `json:"source"`
	Hash      string      `json:"hash"`
	Config    arch.Config `json:"config"`
	Params    int64       `json:"params"`
	FileBytes int64       `json:"file_bytes"`
	// OpenMS is models.Open: map, validate, verify the hash.
	OpenMS     float64     `json:"open_ms"`
	ImageFLOPs int64       `json:"image_flops"`
	Runs       []RunReport `json:"runs"`
	History    *Query      `json:"history,omitempty"`
	// EvalNote says why no run of the model was evaluated although
	// evaluation was asked for (an arch preset's weights are random).
	EvalNote string `json:"eval_note,omitempty"`
}

// RunReport is one backend × precision × threads combination of a model.
type RunReport struct {
	Backend   string `json:"backend"`
	Precision string `json:"precision"`
	// Threads is what the session was given; 0 means all (GOMAXPROCS).
	Threads int `json:"threads"`
	// Skipped holds why the run did not happen (an unsupported precision);
	// every measurement below is then absent.
	Skipped  string          `json:"skipped,omitempty"`
	LoadMS   float64         `json:"load_ms,omitempty"`
	Image    []Timing        `json:"image,omitempty"`
	Text     []Timing        `json:"text,omitempty"`
	Accuracy *Accuracy       `json:"accuracy,omitempty"`
	Memory   *Memory         `json:"memory,omitempty"`
	CPU      *CPU            `json:"cpu,omitempty"`
	Pipeline *PipelineResult `json:"pipeline,omitempty"`
	// Eval is the world evaluation, when asked for: one run per backend ×
	// precision of a model file, the one at the first thread count.
	Eval *Eval `json:"eval,omitempty"`
}

// Timing is one timed loop: the image tower at one batch size or the text
// tower at one query length.
type Timing struct {
	// Batch is the images per call (image timings); 1 for text.
	Batch int `json:"batch"`
	// Tokens is the query length, start and end tokens included (text
	// timings); 0 for images.
	Tokens int `json:"tokens,omitempty"`
	// Full marks the text pass over the whole context length.
	Full  bool `json:"full,omitempty"`
	Iters int  `json:"iters"`
	// FLOPs is one call's cost (multiply-add = 2).
	FLOPs   int64   `json:"flops"`
	Latency Latency `json:"latency"`
	// PerSecond is items per second at the mean latency: images, or queries.
	PerSecond float64 `json:"per_second"`
	// GFLOPS is FLOPs / p50 latency.
	GFLOPS float64 `json:"gflops"`
	// PeakPct is GFLOPS as a percentage of the cores' peak in the
	// precision's arithmetic (fp32 for f32 and w8, int8 for w8a8): the
	// peak per core times the cores the session may use.
	PeakPct float64 `json:"peak_pct,omitempty"`
	// CPUCores is user+sys CPU time over wall time during the loop.
	CPUCores float64 `json:"cpu_cores"`
}

// Latency summarises one call's wall time, in milliseconds. Percentiles are
// nearest-rank over all timed iterations.
type Latency struct {
	MeanMS float64 `json:"mean_ms"`
	MinMS  float64 `json:"min_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Accuracy compares this run's embeddings with the reference backend's fp32
// embeddings of the same model on fixed inputs.
type Accuracy struct {
	Reference    string  `json:"reference"`
	Images       int     `json:"images"`
	Texts        int     `json:"texts"`
	ImageCosMean float64 `json:"image_cos_mean"`
	ImageCosMin  float64 `json:"image_cos_min"`
	TextCosMean  float64 `json:"text_cos_mean"`
	TextCosMin   float64 `json:"text_cos_min"`
}

// Memory is the process's resident set around one run, in bytes.
type Memory struct {
	// BaselineBytes is VmRSS before the session was opened (after a GC).
	BaselineBytes int64 `json:"baseline_bytes"`
	// PeakBytes is VmHWM at the end of the run; Scope says whether the peak
	// was reset before the run ("run") or covers the whole process ("process").
	PeakBytes int64  `json:"peak_bytes"`
	Scope     string `json:"scope"`
	// GrowthBytes is PeakBytes − BaselineBytes: what the session added.
	GrowthBytes int64 `json:"growth_bytes"`
}

// CPU is the process's CPU time over the whole run, load included.
type CPU struct {
	UserS float64 `json:"user_s"`
	SysS  float64 `json:"sys_s"`
	WallS float64 `json:"wall_s"`
	// Cores is (user + sys) / wall: 2.0 means two cores busy throughout.
	Cores float64 `json:"cores"`
}

// Query is the history query measurement: one Score over a synthetic
// history of Frames unit vectors of the model's embedding size.
type Query struct {
	Frames  int     `json:"frames"`
	Dim     int     `json:"dim"`
	Compact string  `json:"compact"`
	FillS   float64 `json:"fill_s"`
	Iters   int     `json:"iters"`
	Latency Latency `json:"latency"`
	// NSPerFrame is the p50 latency divided by Frames.
	NSPerFrame float64 `json:"ns_per_frame"`
}

// sharePeak sets every timing's PeakPct; without a Peak they stay zero.
func (r *Report) sharePeak() {
	p := r.Peak
	if p == nil {
		return
	}
	for mi := range r.Models {
		for ri := range r.Models[mi].Runs {
			run := &r.Models[mi].Runs[ri]
			per := p.F32GFLOPS
			if run.Precision == "w8a8" {
				per = p.I8GOPS
			}
			cores := run.Threads
			if cores <= 0 || cores > r.Host.GOMAXPROCS {
				cores = r.Host.GOMAXPROCS
			}
			if per <= 0 || cores <= 0 {
				continue
			}
			for _, ts := range [][]Timing{run.Image, run.Text} {
				for i := range ts {
					ts[i].PeakPct = 100 * ts[i].GFLOPS / (per * float64(cores))
				}
			}
		}
	}
}
