package mqtt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestDecodeQueryValid(t *testing.T) {
	cases := []struct {
		name    string
		payload string
		check   func(QueryRequest) bool
	}{
		{"text with defaults", `{"id":"q1","text":"a red car"}`,
			func(q QueryRequest) bool { return q.Text == "a red car" && q.TopK == DefaultTopK && q.MinScore == nil }},
		{"image_seq", `{"id":"q2","image_seq":7,"top_k":3}`,
			func(q QueryRequest) bool { return q.ImageSeq == 7 && q.TopK == 3 }},
		{"labels", `{"id":"q3","labels":["cat","dog"]}`,
			func(q QueryRequest) bool { return len(q.Labels) == 2 }},
		{"full", `{"id":"a.b:c-d_e","text":"x","top_k":100,"since":"2026-11-27T00:00:00Z","until":"2026-11-28T00:00:00.5+01:00","min_score":0.25,"thumbnails":true,"reply_to":"app/replies/1"}`,
			func(q QueryRequest) bool {
				return q.Since.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) && *q.MinScore == 0.25 && q.Thumbnails && q.ReplyTo == "app/replies/1"
			}},
		{"whitespace around", " \n{\"id\":\"q\",\"text\":\"x\"}\n ", func(q QueryRequest) bool { return q.ID == "q" }},
		{"negatives and no contrast", `{"id":"q4","text":"a red car","negatives":["a red bus"],"no_contrast":true}`,
			func(q QueryRequest) bool {
				return len(q.Negatives) == 1 && q.Negatives[0] == "a red bus" && q.NoContrast
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := DecodeQuery([]byte(tc.payload), Limits{}, testNow)
			if err != nil {
				t.Fatalf("DecodeQuery: %v", err)
			}
			if !tc.check(q) {
				t.Errorf("decoded %+v", q)
			}
		})
	}
}

func TestDecodeQueryErrors(t *testing.T) {
	big := `{"id":"q","text":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := []struct {
		name, payload, code, field string
	}{
		{"empty", ``, CodeBadRequest, ""},
		{"not json", `hello`, CodeBadRequest, ""},
		{"array", `[1,2]`, CodeBadRequest, ""},
		{"truncated", `{"id":"q","text":"x"`, CodeBadRequest, ""},
		{"trailing data", `{"id":"q","text":"x"} {}`, CodeBadRequest, ""},
		{"oversized", big, CodeTooLarge, ""},
		{"invalid utf8", "{\"id\":\"q\",\"text\":\"\xff\"}", CodeBadRequest, ""},
		{"unknown field", `{"id":"q","text":"x","path":"/etc/passwd"}`, CodeBadRequest, "path"},
		{"missing id", `{"text":"x"}`, CodeBadRequest, "id"},
		{"id with slash", `{"id":"../x","text":"x"}`, CodeBadRequest, "id"},
		{"id with wildcard", `{"id":"#","text":"x"}`, CodeBadRequest, "id"},
		{"id too long", `{"id":"` + strings.Repeat("a", 65) + `","text":"x"}`, CodeBadRequest, "id"},
		{"id wrong type", `{"id":5,"text":"x"}`, CodeBadRequest, "id"},
		{"no selector", `{"id":"q"}`, CodeBadRequest, "text"},
		{"two selectors", `{"id":"q","text":"x","image_seq":3}`, CodeBadRequest, "text"},
		{"blank text", `{"id":"q","text":"  "}`, CodeBadRequest, "text"},
		{"text too long", `{"id":"q","text":"` + strings.Repeat("b", 1025) + `"}`, CodeBadRequest, "text"},
		{"text with NUL", `{"id":"q","text":"a\u0000b"}`, CodeBadRequest, "text"},
		{"image_seq zero", `{"id":"q","image_seq":0}`, CodeBadRequest, "image_seq"},
		{"image_seq negative", `{"id":"q","image_seq":-1}`, CodeBadRequest, "image_seq"},
		{"labels empty", `{"id":"q","labels":[]}`, CodeBadRequest, "labels"},
		{"too many negatives", `{"id":"q","text":"x","negatives":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"]}`, CodeBadRequest, "negatives"},
		{"empty negative", `{"id":"q","text":"x","negatives":[" "]}`, CodeBadRequest, "negatives[0]"},
		{"negatives on labels", `{"id":"q","labels":["a"],"negatives":["b"]}`, CodeBadRequest, "negatives"},
		{"labels too many", `{"id":"q","labels":[` + strings.Repeat(`"a",`, 64) + `"a"]}`, CodeBadRequest, "labels"},
		{"label blank", `{"id":"q","labels":["a",""]}`, CodeBadRequest, "labels[1]"},
		{"top_k zero", `{"id":"q","text":"x","top_k":0}`, CodeBadRequest, "top_k"},
		{"top_k huge", `{"id":"q","text":"x","top_k":100000}`, CodeBadRequest, "top_k"},
		{"top_k float", `{"id":"q","text":"x","top_k":1.5}`, CodeBadRequest, "top_k"},
		{"top_k overflow", `{"id":"q","text":"x","top_k":1e40}`, CodeBadRequest, "top_k"},
		{"min_score range", `{"id":"q","text":"x","min_score":2}`, CodeBadRequest, "min_score"},
		{"since not a time", `{"id":"q","text":"x","since":"yesterday"}`, CodeBadRequest, "since"},
		{"since before epoch", `{"id":"q","text":"x","since":"1970-01-01T00:00:00Z"}`, CodeBadRequest, "since"},
		{"until far future", `{"id":"q","text":"x","until":"2999-01-01T00:00:00Z"}`, CodeBadRequest, "until"},
		{"until before since", `{"id":"q","text":"x","since":"2026-11-28T00:00:00Z","until":"2026-11-27T00:00:00Z"}`, CodeBadRequest, "until"},
		{"range too long", `{"id":"q","text":"x","since":"2020-01-01T00:00:00Z","until":"2026-11-27T00:00:00Z"}`, CodeBadRequest, "since"},
		{"reply_to wildcard", `{"id":"q","text":"x","reply_to":"a/+/b"}`, CodeBadRequest, "reply_to"},
		{"reply_to sys", `{"id":"q","text":"x","reply_to":"$SYS/x"}`, CodeBadRequest, "reply_to"},
		{"reply_to control", `{"id":"q","text":"x","reply_to":"a\nb"}`, CodeBadRequest, "reply_to"},
		{"nested bomb", `{"id":"q","text":"x","labels":` + strings.Repeat("[", 5000) + `}`, CodeBadRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeQuery([]byte(tc.payload), Limits{}, testNow)
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("DecodeQuery(%.60q) = %v, want a *RequestError", tc.payload, err)
			}
			if re.Code != tc.code || (tc.field != "" && re.Field != tc.field) {
				t.Errorf("got code %q field %q (%v), want code %q field %q", re.Code, re.Field, re, tc.code, tc.field)
			}
			if re.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestDecodeAlertRequests(t *testing.T) {
	cases := []struct {
		name    string
		decode  func([]byte, Limits) error
		payload string
		field   string // "" means valid
	}{
		{"set ok", setErr, `{"id":"r","alert":{"name":"door","text":"a person at the door","threshold":0.27,"min_duration_ms":2000}}`, ""},
		{"set no alert", setErr, `{"id":"r"}`, "alert"},
		{"set bad name", setErr, `{"id":"r","alert":{"name":"a/b","text":"x","threshold":0.2}}`, "alert.name"},
		{"set bad threshold", setErr, `{"id":"r","alert":{"name":"a","text":"x","threshold":3}}`, "alert.threshold"},
		{"set negative duration", setErr, `{"id":"r","alert":{"name":"a","text":"x","threshold":0.2,"min_duration_ms":-1}}`, "alert.min_duration_ms"},
		{"set unknown field", setErr, `{"id":"r","alert":{"name":"a","text":"x","threshold":0.2,"exec":"rm"}}`, "exec"},
		{"delete ok", deleteErr, `{"id":"r","name":"door"}`, ""},
		{"delete bad name", deleteErr, `{"id":"r","name":"../../etc"}`, "name"},
		{"list ok", listErr, `{"id":"r","reply_to":"x/y"}`, ""},
		{"list no id", listErr, `{}`, "id"},
		{"thumb ok", thumbErr, `{"id":"r","seq":9}`, ""},
		{"thumb no seq", thumbErr, `{"id":"r"}`, "seq"},
		{"thumb path", thumbErr, `{"id":"r","seq":9,"file":"/etc/shadow"}`, "file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode([]byte(tc.payload), Limits{}.withDefaults())
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Fatalf("got %v, want an error naming %q", err, tc.field)
			}
		})
	}
}

func setErr(p []byte, l Limits) error    { _, err := decodeAlertSet(p, l); return err }
func deleteErr(p []byte, l Limits) error { _, err := decodeAlertDelete(p, l); return err }
func listErr(p []byte, l Limits) error   { _, err := decodeAlertList(p, l); return err }
func thumbErr(p []byte, l Limits) error  { _, err := decodeThumb(p, l); return err }

func TestReplyAllowed(t *testing.T) {
	tp := topics{prefix: "edgeclip/cam1/", root: "edgeclip"}
	cases := []struct {
		topic string
		want  bool
	}{
		{"app/replies", true},
		{"edgeclip/cam1/result/q1", true},
		{"edgeclip/cli-ab12/reply/ab12", true},
		{"edgeclip/cam2/result/x", true},
		{"edgeclip/cam1/query", false},
		{"edgeclip/cam1/status", false},
		{"edgeclip/cam2/alerts/set", false},
		{"edgeclip/all/query", false},
		{"edgeclip/cam2/alerts/door/state", false},
		{"edgeclip/x", false},
		{"edgeclip/cam2/result", false},
	}
	for _, tc := range cases {
		if got := tp.replyAllowed(tc.topic); got != tc.want {
			t.Errorf("replyAllowed(%q) = %v, want %v", tc.topic, got, tc.want)
		}
	}
}

func TestPeekRouting(t *testing.T) {
	cases := []struct {
		name, payload string
		want          routing
	}{
		{"both", `{"id":"q1","reply_to":"a/b","bogus":1}`, routing{"q1", "a/b"}},
		{"bad id", `{"id":"a/b","reply_to":"a/#"}`, routing{}},
		{"id wrong type", `{"id":1,"reply_to":"r"}`, routing{ReplyTo: "r"}},
		{"garbage", `}{`, routing{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := peekRouting([]byte(tc.payload), DefaultMaxPayload); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzDecodeQuery checks that no payload panics the decoder, that every
// rejection is a RequestError with a message, and that whatever is accepted
// honours the limits.
func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		`{"id":"q1","text":"a red car","top_k":5}`,
		`{"id":"q2","labels":["cat","dog"],"since":"2026-11-27T00:00:00Z","until":"2026-11-28T00:00:00Z"}`,
		`{"id":"q3","image_seq":12,"min_score":0.2,"thumbnails":true,"reply_to":"a/b"}`,
		`{"id":"q","text":"x","top_k":1e40}`, `[`, `{"id":"q","text":"\ud800"}`, `null`, `{"id":null}`,
	} {
		f.Add([]byte(s))
	}
	lim := Limits{}.withDefaults()
	f.Fuzz(func(t *testing.T, p []byte) {
		q, err := DecodeQuery(p, lim, testNow)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Code == "" || re.Message == "" {
				t.Fatalf("error %v is not a complete RequestError", err)
			}
			peekRouting(p, lim.MaxPayload)
			return
		}
		if checkID(q.ID) != nil || q.TopK < 1 || q.TopK > lim.MaxTopK || len(q.Text) > lim.MaxText || len(q.Labels) > lim.MaxLabels {
			t.Fatalf("accepted out-of-limit query %+v", q)
		}
		if checkReplyTo(q.ReplyTo) != nil {
			t.Fatalf("accepted reply_to %q", q.ReplyTo)
		}
	})
}
