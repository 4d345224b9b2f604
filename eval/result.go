package eval

// Result is one evaluation, written as JSON by `edgeclip eval --json`
// (schema: docs/eval.md). Every metric is a fraction in [0, 1].
type Result struct {
	Model     ModelInfo `json:"model"`
	Options   Settings  `json:"options"`
	ZeroShot  ZeroShot  `json:"zero_shot"`
	Retrieval Retrieval `json:"retrieval"`
	// Video is present when videos were evaluated.
	Video *Video `json:"video,omitempty"`
}

// ModelInfo labels the evaluated model.
type ModelInfo struct {
	Name      string `json:"name"`
	Hash      string `json:"hash"`
	Precision string `json:"precision"`
}

// Settings are the options the sets were drawn with.
type Settings struct {
	N         int    `json:"n"`
	Seed      uint64 `json:"seed"`
	ImageSize int    `json:"image_size"`
}

// ZeroShot is classification by the nearest prompt embedding.
type ZeroShot struct {
	Shape Task `json:"shape"`
	Color Task `json:"color"`
	Count Task `json:"count"`
}

// Task is one zero-shot task on seen and held-out compositions.
type Task struct {
	// Prompts are the class prompts, in label order.
	Prompts []string `json:"prompts"`
	// Accuracy is Seen.Accuracy, the headline figure.
	Accuracy float64        `json:"accuracy"`
	Seen     Classification `json:"seen"`
	HeldOut  Classification `json:"held_out"`
}

// Classification is a classification report.
type Classification struct {
	N        int          `json:"n"`
	Accuracy float64      `json:"accuracy"`
	MacroF1  float64      `json:"macro_f1"`
	Classes  []ClassScore `json:"classes"`
}

// ClassScore is one class's row of a classification report. A class that is
// never predicted has precision 0; one with no support has recall 0.
type ClassScore struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Retrieval is text↔image retrieval with canonical captions.
type Retrieval struct {
	// T2I and I2T repeat Seen's, the headline figures.
	T2I     Recall `json:"t2i"`
	I2T     Recall `json:"i2t"`
	Seen    Pairs  `json:"seen"`
	HeldOut Pairs  `json:"held_out"`
}

// Pairs is retrieval over one set of image–caption pairs.
type Pairs struct {
	N int `json:"n"`
	// Captions is the number of distinct canonical captions; identical
	// captions are interchangeable answers.
	Captions int    `json:"captions"`
	T2I      Recall `json:"t2i"`
	I2T      Recall `json:"i2t"`
}

// Recall is recall@k.
type Recall struct {
	R1  float64 `json:"r1"`
	R5  float64 `json:"r5"`
	R10 float64 `json:"r10"`
}

// Video is the video-level evaluation: interval answers and alerts.
type Video struct {
	Videos  int     `json:"videos"`
	Seconds float64 `json:"seconds"` // per video
	FPS     float64 `json:"fps"`
	Frames  int     `json:"frames"`
	Events  int     `json:"events"`
	// MeanIoU is the mean over events of the IoU of the best-matching
	// interval of the event's caption query (0 when none).
	MeanIoU float64 `json:"mean_iou"`
	// IoU07 is the fraction of events whose best interval has IoU ≥ 0.7.
	IoU07 float64 `json:"iou_0_7"`
	// Intervals is the number of intervals the caption queries returned;
	// precision, recall and F1 count an interval and an event of the same
	// caption as a match at IoU ≥ 0.5 (one to one, best IoU first).
	Intervals int     `json:"intervals"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Alerts    Alerts  `json:"alerts"`
	// PerEvent lists every ground-truth event.
	PerEvent []EventScore `json:"per_event"`
}

// Alerts simulates one standing alert per distinct event caption (alert
// package defaults). A start counts for an event of its caption when it
// fires within [start − 2 s, end + 2 s] of it; any other start is false.
type Alerts struct {
	// Detected is the fraction of events with at least one start.
	Detected float64 `json:"detected"`
	// StartsPerEvent is the mean number of starts per event (ideal 1).
	StartsPerEvent float64 `json:"starts_per_event"`
	FalseStarts    int     `json:"false_starts"`
	// FalseStartsPerHour scales FalseStarts by the evaluated video time.
	FalseStartsPerHour float64 `json:"false_starts_per_hour"`
}

// EventScore is one ground-truth event and how it was answered.
type EventScore struct {
	Video   int     `json:"video"`
	Index   int     `json:"index"`
	Caption string  `json:"caption"`
	Start   float64 `json:"start"` // seconds
	End     float64 `json:"end"`
	IoU     float64 `json:"iou"`
	// Best is the best-matching interval [start, end] in seconds, absent
	// when no interval overlaps the event.
	Best        []float64 `json:"best,omitempty"`
	AlertStarts int       `json:"alert_starts"`
}

// Metrics flattens the summary metrics (not per-class or per-event rows)
// into dotted names, the keys of docs/eval.md, for comparing two results.
func (r *Result) Metrics() map[string]float64 {
	m := map[string]float64{}
	for _, t := range []struct {
		name string
		t    *Task
	}{{"shape", &r.ZeroShot.Shape}, {"color", &r.ZeroShot.Color}, {"count", &r.ZeroShot.Count}} {
		p := "zero_shot." + t.name + "."
		m[p+"seen.accuracy"] = t.t.Seen.Accuracy
		m[p+"seen.macro_f1"] = t.t.Seen.MacroF1
		m[p+"held_out.accuracy"] = t.t.HeldOut.Accuracy
		m[p+"held_out.macro_f1"] = t.t.HeldOut.MacroF1
	}
	for _, s := range []struct {
		name string
		p    *Pairs
	}{{"seen", &r.Retrieval.Seen}, {"held_out", &r.Retrieval.HeldOut}} {
		for _, d := range []struct {
			name string
			r    Recall
		}{{"t2i", s.p.T2I}, {"i2t", s.p.I2T}} {
			p := "retrieval." + s.name + "." + d.name + "."
			m[p+"r1"], m[p+"r5"], m[p+"r10"] = d.r.R1, d.r.R5, d.r.R10
		}
	}
	if v := r.Video; v != nil {
		m["video.mean_iou"], m["video.iou_0_7"] = v.MeanIoU, v.IoU07
		m["video.precision"], m["video.recall"], m["video.f1"] = v.Precision, v.Recall, v.F1
		m["video.alerts.detected"] = v.Alerts.Detected
	}
	return m
}
