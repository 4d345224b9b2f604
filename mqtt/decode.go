package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeclip/edgeclip/query"
)

// Limits bound what a request payload may ask for. Zero fields take the
// defaults documented on each.
type Limits struct {
	MaxPayload  int           // bytes, checked before decoding; default 64 KiB
	MaxText     int           // bytes of query/alert text; default 1024
	MaxLabels   int           // labels in a labels query; default 64
	MaxTopK     int           // largest top_k; default 100
	MaxRange    time.Duration // longest until-since; default 366 days
	MaxFutureTo time.Duration // how far past now until may be; default 24 h
}

// Defaults of Limits and of a query.
const (
	DefaultMaxPayload = 64 << 10
	DefaultTopK       = 10
	maxIDLen          = 64
	maxTopicLen       = 256
	maxLabelLen       = 256
	maxAlertDuration  = 24 * time.Hour
)

// epoch is the earliest accepted since/until: nothing older was recorded.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (l Limits) withDefaults() Limits {
	if l.MaxPayload <= 0 {
		l.MaxPayload = DefaultMaxPayload
	}
	if l.MaxText <= 0 {
		l.MaxText = 1024
	}
	if l.MaxLabels <= 0 {
		l.MaxLabels = 64
	}
	if l.MaxTopK <= 0 {
		l.MaxTopK = 100
	}
	if l.MaxRange <= 0 {
		l.MaxRange = 366 * 24 * time.Hour
	}
	if l.MaxFutureTo <= 0 {
		l.MaxFutureTo = 24 * time.Hour
	}
	return l
}

func badField(field, format string, args ...any) *RequestError {
	return &RequestError{Code: CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// strictDecode decodes one JSON object into v, refusing unknown fields,
// trailing data and payloads over the size limit (checked before any
// decoding work). Errors are *RequestError naming the field when known.
func strictDecode(payload []byte, maxPayload int, v any) error {
	if len(payload) > maxPayload {
		return &RequestError{Code: CodeTooLarge, Message: fmt.Sprintf("payload is %d bytes, limit %d", len(payload), maxPayload)}
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		return &RequestError{Code: CodeBadRequest, Message: "empty payload, want a JSON object"}
	}
	if !utf8.Valid(payload) {
		return &RequestError{Code: CodeBadRequest, Message: "payload is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &RequestError{Code: CodeBadRequest, Message: "trailing data after the JSON object"}
	}
	return nil
}

// jsonError turns an encoding/json error into a RequestError naming the field.
func jsonError(err error) *RequestError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &RequestError{Code: CodeBadRequest, Message: fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &RequestError{Code: CodeBadRequest, Message: fmt.Sprintf("want a JSON object, got %s", typ.Value)}
		}
		return badField(typ.Field, "got %s, want %s", typ.Value, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &RequestError{Code: CodeBadRequest, Message: "truncated JSON"}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return badField(strings.Trim(name, `"`), "unknown field")
	}
	return &RequestError{Code: CodeBadRequest, Message: strings.TrimPrefix(msg, "json: ")}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "int", "int8", "int16", "int32", "int64":
		return "an integer"
	case "uint", "uint8", "uint16", "uint32", "uint64":
		return "a non-negative integer"
	}
	return "a number"
}

// queryWire is the decoded shape of a query; pointers tell absent from zero.
type queryWire struct {
	ID         string   `json:"id"`
	Text       *string  `json:"text"`
	ImageSeq   *uint64  `json:"image_seq"`
	Labels     []string `json:"labels"`
	TopK       *int     `json:"top_k"`
	Since      *string  `json:"since"`
	Until      *string  `json:"until"`
	MinScore   *float64 `json:"min_score"`
	Thumbnails bool     `json:"thumbnails"`
	ReplyTo    string   `json:"reply_to"`
	Negatives  []string `json:"negatives"`
	NoContrast bool     `json:"no_contrast"`
}

// DecodeQuery decodes and validates a query payload. now bounds until. Every
// error is a *RequestError naming the field at fault.
func DecodeQuery(payload []byte, lim Limits, now time.Time) (QueryRequest, error) {
	lim = lim.withDefaults()
	var w queryWire
	if err := strictDecode(payload, lim.MaxPayload, &w); err != nil {
		return QueryRequest{}, err
	}
	q := QueryRequest{ID: w.ID, Thumbnails: w.Thumbnails, ReplyTo: w.ReplyTo, TopK: DefaultTopK, MinScore: w.MinScore}
	if err := checkID(w.ID); err != nil {
		return QueryRequest{}, err
	}
	if err := checkReplyTo(w.ReplyTo); err != nil {
		return QueryRequest{}, err
	}
	selectors := 0
	if w.Text != nil {
		selectors++
		if err := checkText("text", *w.Text, lim.MaxText); err != nil {
			return QueryRequest{}, err
		}
		q.Text = *w.Text
	}
	if w.ImageSeq != nil {
		selectors++
		if *w.ImageSeq == 0 {
			return QueryRequest{}, badField("image_seq", "must be a frame sequence number > 0")
		}
		q.ImageSeq = *w.ImageSeq
	}
	if w.Labels != nil {
		selectors++
		if len(w.Labels) == 0 || len(w.Labels) > lim.MaxLabels {
			return QueryRequest{}, badField("labels", "want 1 to %d labels, got %d", lim.MaxLabels, len(w.Labels))
		}
		for i, l := range w.Labels {
			if err := checkText(fmt.Sprintf("labels[%d]", i), l, min(lim.MaxText, maxLabelLen)); err != nil {
				return QueryRequest{}, err
			}
		}
		q.Labels = w.Labels
	}
	if selectors != 1 {
		return QueryRequest{}, badField("text", "want exactly one of text, image_seq and labels, got %d", selectors)
	}
	if err := checkNegatives("negatives", w.Negatives, lim); err != nil {
		return QueryRequest{}, err
	}
	if (len(w.Negatives) > 0 || w.NoContrast) && w.Labels != nil {
		return QueryRequest{}, badField("negatives", "labels queries take no negatives or no_contrast")
	}
	q.Negatives, q.NoContrast = w.Negatives, w.NoContrast
	if w.TopK != nil {
		if *w.TopK < 1 || *w.TopK > lim.MaxTopK {
			return QueryRequest{}, badField("top_k", "must be between 1 and %d, got %d", lim.MaxTopK, *w.TopK)
		}
		q.TopK = *w.TopK
	}
	if w.MinScore != nil && (math.IsNaN(*w.MinScore) || *w.MinScore < -1 || *w.MinScore > 1) {
		return QueryRequest{}, badField("min_score", "must be between -1 and 1, got %g", *w.MinScore)
	}
	var err error
	if q.Since, err = parseTime("since", w.Since, lim, now); err != nil {
		return QueryRequest{}, err
	}
	if q.Until, err = parseTime("until", w.Until, lim, now); err != nil {
		return QueryRequest{}, err
	}
	if q.Since != nil && q.Until != nil {
		if q.Until.Before(*q.Since) {
			return QueryRequest{}, badField("until", "is before since")
		}
		if q.Until.Sub(*q.Since) > lim.MaxRange {
			return QueryRequest{}, badField("since", "range %s is longer than the limit %s", q.Until.Sub(*q.Since), lim.MaxRange)
		}
	}
	return q, nil
}

func parseTime(field string, s *string, lim Limits, now time.Time) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, badField(field, "want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", truncate(*s, 40))
	}
	if t.Before(epoch) || t.After(now.Add(lim.MaxFutureTo)) {
		return nil, badField(field, "%s is outside %s .. now+%s", t.Format(time.RFC3339), epoch.Format("2006-01-02"), lim.MaxFutureTo)
	}
	return &t, nil
}

// checkID accepts ids that are safe as one topic level.
func checkID(id string) error {
	if id == "" {
		return badField("id", "is required")
	}
	if !isName(id, maxIDLen, ".:") {
		return badField("id", "want 1 to %d characters of A-Z a-z 0-9 . : _ -, got %q", maxIDLen, truncate(id, 80))
	}
	return nil
}

// isName reports whether s is 1..maxLen ASCII letters, digits, '_', '-' and
// the extra characters.
func isName(s string, maxLen int, extra string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' ||
			strings.IndexByte(extra, c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// checkReplyTo accepts a publishable topic: no wildcards, no NUL or control
// characters, not a broker ($SYS) topic. The Client further keeps replies out
// of its own namespace (see Client.replyAllowed).
func checkReplyTo(t string) error {
	if t == "" {
		return nil
	}
	if len(t) > maxTopicLen {
		return badField("reply_to", "longer than %d bytes", maxTopicLen)
	}
	if strings.ContainsAny(t, "+#") {
		return badField("reply_to", "must not contain the wildcards + or #")
	}
	if t[0] == '$' {
		return badField("reply_to", "must not be a $ topic")
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return badField("reply_to", "contains a control or invalid character")
		}
	}
	return nil
}

func checkText(field, s string, maxLen int) error {
	if strings.TrimSpace(s) == "" {
		return badField(field, "must not be empty")
	}
	if len(s) > maxLen {
		return badField(field, "is %d bytes, limit %d", len(s), maxLen)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return badField(field, "contains a NUL character")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CheckAlert validates an alert spec; the alert name becomes a topic level.
func CheckAlert(a AlertSpec, lim Limits) error {
	lim = lim.withDefaults()
	if !isName(a.Name, 64, "") {
		return badField("alert.name", "want 1 to 64 characters of A-Z a-z 0-9 _ -, got %q", truncate(a.Name, 80))
	}
	if err := checkText("alert.text", a.Text, lim.MaxText); err != nil {
		return err
	}
	if math.IsNaN(a.Threshold) || a.Threshold < -1 || a.Threshold > 1 {
		return badField("alert.threshold", "must be between -1 and 1, got %g", a.Threshold)
	}
	if a.MinDurationMS < 0 || a.MinDurationMS > maxAlertDuration.Milliseconds() {
		return badField("alert.min_duration_ms", "must be between 0 and %d", maxAlertDuration.Milliseconds())
	}
	if a.CooldownMS < 0 || a.CooldownMS > maxAlertDuration.Milliseconds() {
		return badField("alert.cooldown_ms", "must be between 0 and %d", maxAlertDuration.Milliseconds())
	}
	return checkNegatives("alert.negatives", a.Negatives, lim)
}

func checkNegatives(field string, negs []string, lim Limits) error {
	if len(negs) > query.MaxNegatives {
		return badField(field, "at most %d, got %d", query.MaxNegatives, len(negs))
	}
	for i, n := range negs {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), n, lim.MaxText); err != nil {
			return err
		}
	}
	return nil
}

// The other requests. All carry an id and an optional reply_to.
type (
	alertSetRequest struct {
		ID      string     `json:"id"`
		Alert   *AlertSpec `json:"alert"`
		ReplyTo string     `json:"reply_to"`
	}
	alertDeleteRequest struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		ReplyTo string `json:"reply_to"`
	}
	alertListRequest struct {
		ID      string `json:"id"`
		ReplyTo string `json:"reply_to"`
	}
	thumbRequest struct {
		ID      string `json:"id"`
		Seq     uint64 `json:"seq"`
		ReplyTo string `json:"reply_to"`
	}
)

func decodeAlertSet(p []byte, lim Limits) (alertSetRequest, error) {
	var r alertSetRequest
	if err := strictDecode(p, lim.MaxPayload, &r); err != nil {
		return r, err
	}
	if err := errors.Join(checkID(r.ID), checkReplyTo(r.ReplyTo)); err != nil {
		return r, firstRequestError(err)
	}
	if r.Alert == nil {
		return r, badField("alert", "is required")
	}
	return r, CheckAlert(*r.Alert, lim)
}

func decodeAlertDelete(p []byte, lim Limits) (alertDeleteRequest, error) {
	var r alertDeleteRequest
	if err := strictDecode(p, lim.MaxPayload, &r); err != nil {
		return r, err
	}
	if err := errors.Join(checkID(r.ID), checkReplyTo(r.ReplyTo)); err != nil {
		return r, firstRequestError(err)
	}
	if !isName(r.Name, 64, "") {
		return r, badField("name", "want an alert name of 1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	return r, nil
}

func decodeAlertList(p []byte, lim Limits) (alertListRequest, error) {
	var r alertListRequest
	if err := strictDecode(p, lim.MaxPayload, &r); err != nil {
		return r, err
	}
	return r, firstRequestError(errors.Join(checkID(r.ID), checkReplyTo(r.ReplyTo)))
}

func decodeThumb(p []byte, lim Limits) (thumbRequest, error) {
	var r thumbRequest
	if err := strictDecode(p, lim.MaxPayload, &r); err != nil {
		return r, err
	}
	if err := errors.Join(checkID(r.ID), checkReplyTo(r.ReplyTo)); err != nil {
		return r, firstRequestError(err)
	}
	if r.Seq == 0 {
		return r, badField("seq", "must be a frame sequence number > 0")
	}
	return r, nil
}

// firstRequestError unwraps errors.Join so the reply names one field.
func firstRequestError(err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return re
	}
	return err
}

// routing is what a rejected request still tells us about where to answer.
type routing struct {
	ID      string `json:"id"`
	ReplyTo string `json:"reply_to"`
}

// peekRouting leniently extracts a valid id and reply_to from a payload
// that failed strict decoding, so the error still reaches the requester.
func peekRouting(p []byte, maxPayload int) routing {
	var r routing
	if len(p) > maxPayload {
		return r
	}
	_ = json.Unmarshal(p, &r) // partial results are what we want
	if checkID(r.ID) != nil {
		r.ID = ""
	}
	if checkReplyTo(r.ReplyTo) != nil {
		r.ReplyTo = ""
	}
	return r
}
