package mqtt

import (
	"context"
	"errors"
	"time"
)

// Handler is what the daemon plugs into a Client: the Client decodes and
// validates every request, calls the Handler from a bounded worker pool and
// publishes the answer. Methods must honour ctx and may run concurrently.
type Handler interface {
	Query(ctx context.Context, q QueryRequest) (QueryReply, error)
	SetAlert(ctx context.Context, a AlertSpec) error
	DeleteAlert(ctx context.Context, name string) error
	ListAlerts(ctx context.Context) ([]AlertSpec, error)
	Thumbnail(ctx context.Context, seq uint64) ([]byte, error)
}

// QueryRequest is the payload of `<prefix>query` and of the broadcast query
// topic. Exactly one of Text, ImageSeq and Labels selects what to search for.
type QueryRequest struct {
	ID         string     `json:"id"`
	Text       string     `json:"text,omitempty"`
	ImageSeq   uint64     `json:"image_seq,omitempty"`
	Labels     []string   `json:"labels,omitempty"`
	TopK       int        `json:"top_k,omitempty"`
	Since      *time.Time `json:"since,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
	MinScore   *float64   `json:"min_score,omitempty"`
	Thumbnails bool       `json:"thumbnails,omitempty"`
	ReplyTo    string     `json:"reply_to,omitempty"`
	// Negatives add prompts a text query must beat; NoContrast leaves out
	// the contrast prompts built from the text.
	Negatives  []string `json:"negatives,omitempty"`
	NoContrast bool     `json:"no_contrast,omitempty"`
}

// QueryReply answers a query. Device, ID and TookMS are filled in by the
// Client; the Handler supplies Frames and Intervals.
type QueryReply struct {
	ID        string     `json:"id"`
	Device    string     `json:"device"`
	Frames    []Frame    `json:"frames"`
	Intervals []Interval `json:"intervals"`
	TookMS    float64    `json:"took_ms"`
}

// Frame is one matching frame of the history.
type Frame struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Score float64   `json:"score"`
	Label string    `json:"label,omitempty"` // the best label of a labels query
	Thumb []byte    `json:"thumb,omitempty"` // JPEG, base64 in JSON; only when asked for
}

// Interval is a run of consecutive matching frames.
type Interval struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	PeakScore float64   `json:"peak_score"`
	BestSeq   uint64    `json:"best_seq"`
}

// AlertSpec is a standing alert: while the score of Text stays at or above
// Threshold for MinDurationMS the alert is on.
type AlertSpec struct {
	Name          string  `json:"name"`
	Text          string  `json:"text"`
	Threshold     float64 `json:"threshold"`
	MinDurationMS int64   `json:"min_duration_ms,omitempty"`
	CooldownMS    int64   `json:"cooldown_ms,omitempty"`
	// Negatives and NoContrast calibrate as for queries.
	Negatives  []string `json:"negatives,omitempty"`
	NoContrast bool     `json:"no_contrast,omitempty"`
}

// AlertEvent is published on `<prefix>alerts/<name>/event` when an alert
// starts or ends. ThumbSeq refers to a frame whose JPEG `thumb/get` returns.
type AlertEvent struct {
	EventID  string    `json:"event_id"` // unique per device; filled in when empty
	Alert    string    `json:"alert"`
	Kind     string    `json:"kind"` // "start" or "end"
	Time     time.Time `json:"time"`
	Score    float64   `json:"score"`
	ThumbSeq uint64    `json:"thumb_seq,omitempty"`
	Device   string    `json:"device"`
}

// Status is the retained payload of `<prefix>status`. State is "online",
// "offline" (the last will) or "stopped" (a clean stop).
type Status struct {
	State     string    `json:"state"`
	Device    string    `json:"device"`
	Time      time.Time `json:"time,omitzero"`
	Version   string    `json:"version,omitempty"`
	Model     string    `json:"model,omitempty"`
	ModelHash string    `json:"model_hash,omitempty"`
	Backend   string    `json:"backend,omitempty"`
	Source    string    `json:"source,omitempty"` // camera source state, e.g. "running"
	FPS       float64   `json:"fps,omitempty"`
}

// Stats is published on `<prefix>stats` every few seconds (QoS 0).
type Stats struct {
	Time        time.Time          `json:"time"`
	FPS         float64            `json:"fps"`
	Drops       uint64             `json:"drops"`
	Gated       uint64             `json:"gated"` // frames skipped by motion gating
	EncodeP50MS float64            `json:"encode_ms_p50"`
	EncodeP99MS float64            `json:"encode_ms_p99"`
	StoreBytes  int64              `json:"store_bytes"`
	StoreFrames int64              `json:"store_frames"`
	TempsC      map[string]float64 `json:"temps_c,omitempty"` // board temperatures when known
}

// Error codes of ErrorBody.Code.
const (
	CodeBadRequest = "bad_request" // a field is missing, malformed or out of range
	CodeTooLarge   = "too_large"   // the payload is over the size limit
	CodeBusy       = "busy"        // the worker pool is full; retry later
	CodeNotFound   = "not_found"   // e.g. an unknown alert or frame
	CodeInternal   = "internal"    // the handler failed
)

// ErrorBody is the "error" member of an error reply.
type ErrorBody struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ErrorReply is published instead of a reply when a request fails:
// {"id":..., "error":{"code":..., "message":...}}.
type ErrorReply struct {
	ID     string    `json:"id"`
	Device string    `json:"device"`
	Error  ErrorBody `json:"error"`
}

// OKReply answers alerts/set and alerts/delete.
type OKReply struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	OK     bool   `json:"ok"`
}

// AlertsReply answers alerts/list.
type AlertsReply struct {
	ID     string      `json:"id"`
	Device string      `json:"device"`
	Alerts []AlertSpec `json:"alerts"`
}

// RequestError is a request rejected for a reason the requester can fix.
// Decoders return it; a Handler may return it too (Code not_found etc.).
type RequestError struct {
	Code    string
	Field   string // the JSON field at fault, when there is one
	Message string
}

func (e *RequestError) Error() string {
	if e.Field != "" {
		return "mqtt: " + e.Code + ": field " + e.Field + ": " + e.Message
	}
	return "mqtt: " + e.Code + ": " + e.Message
}

// ErrNotFound, returned (wrapped) by a Handler, is answered with code
// not_found.
var ErrNotFound = errors.New("not found")

// errorBody maps an error to the body sent back to the requester.
func errorBody(err error) ErrorBody {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		return ErrorBody{Code: re.Code, Field: re.Field, Message: re.Message}
	case errors.Is(err, ErrNotFound):
		return ErrorBody{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorBody{Code: CodeInternal, Message: "handler timed out"}
	default:
		return ErrorBody{Code: CodeInternal, Message: truncate(err.Error(), 300)}
	}
}
