package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/daemon"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/query"
)

// mqttAPI answers MQTT requests from the daemon's parts; it is the only
// place where MQTT types meet the daemon's.
type mqttAPI struct {
	d      *daemon.Daemon
	device string
	// observe, if set, records query latency (metrics).
	observe func(time.Duration)
}

func (a *mqttAPI) Query(ctx context.Context, q mqtt.QueryRequest) (mqtt.QueryReply, error) {
	start := time.Now()
	rep := mqtt.QueryReply{ID: q.ID, Device: a.device, Frames: []mqtt.Frame{}, Intervals: []mqtt.Interval{}}
	if len(q.Labels) > 0 {
		return a.classify(ctx, q, rep, start)
	}
	req := query.Request{Text: q.Text, TopK: q.TopK, Negatives: q.Negatives, NoContrast: q.NoContrast}
	if q.Since != nil {
		req.Since = *q.Since
	}
	if q.Until != nil {
		req.Until = *q.Until
	}
	if q.MinScore != nil {
		req.Intervals.Threshold = float32(*q.MinScore)
	}
	if q.Text == "" {
		r, err := a.d.Store().Get(q.ImageSeq)
		if err != nil {
			return rep, notFound("image_seq", err)
		}
		if r.ModelHash != a.d.Model().Hash() {
			return rep, &mqtt.RequestError{Code: mqtt.CodeBadRequest, Field: "image_seq",
				Message: fmt.Sprintf("frame %d was encoded by another model (%s)", q.ImageSeq, r.ModelName)}
		}
		req.Vector = r.Embedding
	}
	res, err := a.d.Engine().Search(ctx, req)
	if err != nil {
		return rep, err
	}
	for _, f := range res.Frames {
		if q.MinScore != nil && float64(f.Score) < *q.MinScore {
			continue
		}
		fr := mqtt.Frame{Seq: f.Seq, Time: f.Time, Score: float64(f.Score)}
		if q.Thumbnails {
			fr.Thumb, _ = a.d.Store().Thumb(f.Seq)
		}
		rep.Frames = append(rep.Frames, fr)
	}
	for _, iv := range res.Intervals {
		rep.Intervals = append(rep.Intervals, mqtt.Interval{Start: iv.Start, End: iv.End, PeakScore: float64(iv.Peak), BestSeq: iv.BestSeq})
	}
	rep.TookMS = float64(time.Since(start).Microseconds()) / 1000
	if a.observe != nil {
		a.observe(time.Since(start))
	}
	return rep, nil
}

// classify answers a labels query on the newest frame (or image_seq).
func (a *mqttAPI) classify(ctx context.Context, q mqtt.QueryRequest, rep mqtt.QueryReply, start time.Time) (mqtt.QueryReply, error) {
	var r history.Record
	var err error
	if q.ImageSeq != 0 {
		r, err = a.d.Store().Get(q.ImageSeq)
	} else {
		r, err = a.d.Store().Latest()
	}
	if err != nil {
		return rep, notFound("image_seq", err)
	}
	ls, err := a.d.Engine().Classify(ctx, r.Embedding, q.Labels)
	if err != nil {
		return rep, err
	}
	for _, l := range ls {
		fr := mqtt.Frame{Seq: r.Seq, Time: r.Time, Score: float64(l.Prob), Label: l.Label}
		if q.Thumbnails {
			fr.Thumb = r.Thumb
		}
		rep.Frames = append(rep.Frames, fr)
	}
	rep.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}

func notFound(field string, err error) error {
	if errors.Is(err, history.ErrNotFound) {
		return &mqtt.RequestError{Code: mqtt.CodeNotFound, Field: field, Message: err.Error()}
	}
	return err
}

func (a *mqttAPI) SetAlert(ctx context.Context, s mqtt.AlertSpec) error {
	_, err := a.d.Alerts().Set(ctx, alert.Spec{
		Name: s.Name, Text: s.Text, Threshold: float32(s.Threshold), Negatives: s.Negatives, NoContrast: s.NoContrast,
		MinDuration: alert.Duration(time.Duration(s.MinDurationMS) * time.Millisecond),
		Cooldown:    alert.Duration(time.Duration(s.CooldownMS) * time.Millisecond),
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return &mqtt.RequestError{Code: mqtt.CodeBadRequest, Message: err.Error()}
	}
	return err
}

func (a *mqttAPI) DeleteAlert(ctx context.Context, name string) error {
	if err := a.d.Alerts().Delete(name); errors.Is(err, alert.ErrNotFound) {
		return &mqtt.RequestError{Code: mqtt.CodeNotFound, Field: "name", Message: err.Error()}
	} else if err != nil {
		return err
	}
	return nil
}

func (a *mqttAPI) ListAlerts(ctx context.Context) ([]mqtt.AlertSpec, error) {
	out := []mqtt.AlertSpec{}
	for _, s := range a.d.Alerts().List() {
		out = append(out, mqtt.AlertSpec{Name: s.Name, Text: s.Text, Threshold: float64(s.Threshold),
			MinDurationMS: time.Duration(s.MinDuration).Milliseconds(), CooldownMS: time.Duration(s.Cooldown).Milliseconds(),
			Negatives: s.Negatives, NoContrast: s.NoContrast})
	}
	return out, nil
}

func (a *mqttAPI) Thumbnail(ctx context.Context, seq uint64) ([]byte, error) {
	b, err := a.d.Store().Thumb(seq)
	if err != nil {
		return nil, notFound("seq", err)
	}
	if len(b) == 0 {
		return nil, &mqtt.RequestError{Code: mqtt.CodeNotFound, Field: "seq", Message: fmt.Sprintf("frame %d has no thumbnail", seq)}
	}
	return b, nil
}
