package config

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// help documents every section and key; Example writes it as comments and
// a test checks that no key is left without one.
var help = map[string]string{
	"device_id": "Names this camera in MQTT topics and replies: 1 to 64 of A-Z a-z 0-9 _ -, not \"all\".\nEmpty: the host name.",

	"model":           "The CLIP model and how it runs.",
	"model.path":      "Model file written by `edgeclip convert`. Empty: the shipped default model.",
	"model.backend":   "Inference backend: native (pure Go, always there), or onnx / tflite in builds\nthat link them (`edgeclip version` lists the backends built in).",
	"model.precision": "Arithmetic of the linear layers: auto, f32, w8 (int8 weights) or w8a8 (int8\nweights and activations; fastest on CPUs). auto: the precision `edgeclip quantize`\nrecorded in the model file (w8 for the shipped int8 model), else f32; if the\nbackend cannot run that, f32 with a warning.",
	"model.threads":   "Threads for inference. 0: all cores.",

	"source":                   "The camera, and which frames reach the encoder.",
	"source.uri":               "Camera URI: v4l2:///dev/video0, csi://0 (Jetson), rtsp://user:pass@host/path,\nfile:///path.mp4?loop=1, gst://PIPELINE ! appsink, or synth://?seed=N (a generated\ndemo scene, no camera needed).",
	"source.stall_timeout":     "No frame for this long: the source is reopened (backoff 1, 2, 5, 10, then 30 s).",
	"source.sample_fps":        "Frames per second offered to the encoder; the camera may deliver more.",
	"source.gate_threshold":    "Frames whose downscaled grey image changed less than this (mean absolute\nchange, 0..1) are skipped. 0 encodes every sampled frame.",
	"source.keep_alive":        "A frame is encoded at least this often even when nothing changes.",
	"source.thumbnails":        "Keep a JPEG thumbnail with every encoded frame (query replies, alert events).",
	"source.thumbnail_size":    "Thumbnail long side in pixels (16..1024).",
	"source.thumbnail_quality": "Thumbnail JPEG quality (1..100).",

	"history":                "The on-disk history of embeddings (append-only segments with checksums).",
	"history.dir":            "Directory of the store. Empty: <state dir>/history, where the state dir is\n$STATE_DIRECTORY under systemd, else $XDG_STATE_HOME/edgeclip or ~/.local/state/edgeclip.",
	"history.fsync_interval": "How often appended records are fsynced: a power loss loses at most this much.",
	"history.max_age":        "Records older than this are dropped, a whole segment at a time. 0 keeps all.",
	"history.max_bytes":      "Hard budget for the store on disk, thumbnails included (units KiB, MiB, GiB).\n0: no budget.",
	"history.segment_bytes":  "Segment file size; retention drops whole segments. At most max_bytes/2.",
	"history.compact":        "In-memory form of the vectors searched by queries: int8 (a quarter of float32)\nor f16 (a half).",

	"query":              "Text queries.",
	"query.negatives":    "Background prompts that calibrate scores (a score is how much better a frame\nmatches the query than these). Empty: the built-in list.",
	"query.contrast":     "Also calibrate each query against its contrast prompts: the query with one word\nswapped for another of its class (\"a red car\" against \"a blue car\", \"a red truck\"),\nso that a frame matching only half the description does not count.",
	"query.vocabulary":   "Word classes for contrast prompts, one per item: words separated by spaces,\nsynonyms by |, e.g. \"red green blue grey|gray\". Empty: the built-in colours, shapes,\nvehicles, people and animals.",
	"query.min_duration": "Text-query intervals shorter than this are dropped (an object entering\nhalf-visible can pass for another for a frame or two).",
	"query.cache_size":   "Query embeddings kept so a repeated text skips the text encoder.",
	"query.max_gap":      "Matching frames closer than this are merged into one interval.",
	"query.threshold":    "Default calibrated score (0..1] a frame needs to count as a match: the query's\nprobability against its strongest rival prompt (0.5 is a tie; 0.6 is 1.5 : 1 odds).",

	"alerts":      "Standing alerts.",
	"alerts.file": "Where alert definitions persist across restarts. Empty: <state dir>/alerts.json.",

	"mqtt":                          "MQTT: queries in, replies, alert events and status out.",
	"mqtt.broker":                   "Broker URL: tcp://host:1883, ssl://host:8883, ws:// or wss://.\nEmpty: start an embedded broker on embedded_listen and connect to it.",
	"mqtt.embedded_listen":          "Address of the embedded broker (used only when broker is empty).",
	"mqtt.client_id":                "MQTT client id. Empty: edgeclip-<device_id>.",
	"mqtt.username":                 "User name for the broker.",
	"mqtt.password":                 "Password for the broker. Prefer password_file or $EDGECLIP_MQTT_PASSWORD.",
	"mqtt.password_file":            "File whose first line is the password (e.g. a systemd credential).",
	"mqtt.tls":                      "TLS for ssl:// and wss:// brokers.",
	"mqtt.tls.ca_file":              "PEM CA bundle to trust. Empty: the system's roots.",
	"mqtt.tls.cert_file":            "PEM client certificate, with key_file.",
	"mqtt.tls.key_file":             "PEM private key of cert_file.",
	"mqtt.tls.server_name":          "Host name expected in the broker's certificate. Empty: the broker's host.",
	"mqtt.tls.insecure_skip_verify": "Accept any broker certificate. For tests only: anyone on the path can\nimpersonate the broker.",
	"mqtt.root":                     "First topic level shared by the fleet; fleet-wide queries arrive on <root>/all/query.",
	"mqtt.prefix":                   "Topic prefix of this device, ending in /. Empty: <root>/<device_id>/.",
	"mqtt.max_payload":              "Largest request payload accepted; larger ones get a too_large error reply.",
	"mqtt.workers":                  "Requests handled at once; more wait in a short queue, then get busy errors.",
	"mqtt.outbox_dir":               "Replies and alert events that could not be sent wait here, fsynced, until\nthe broker is back. Empty: <state dir>/outbox.",
	"mqtt.outbox_max_bytes":         "Bound of the outbox on disk; the oldest messages go first when it is full.",
	"mqtt.stats_interval":           "How often <prefix>stats is published.",
	"mqtt.homeassistant":            "Home Assistant MQTT discovery.",
	"mqtt.homeassistant.enabled":    "Publish discovery configs: a binary_sensor per alert, fps and temperatures.",
	"mqtt.homeassistant.prefix":     "Home Assistant's discovery prefix.",

	"http":        "Health and metrics endpoint: /healthz, /readyz and /metrics (Prometheus).",
	"http.listen": "host:port to listen on. Empty: no endpoint. Keep it on loopback unless a\nfirewall guards the port: it has no authentication.",

	"log":        "Logs (log/slog). Nothing is logged per frame at level info.",
	"log.level":  "debug, info, warn or error.",
	"log.format": "text (logfmt-like) or json.",

	"board":      "Board sensors: temperatures and throttling (Jetson, Raspberry Pi, generic Linux).",
	"board.root": "File system root the sensors are read under (/sys, /proc). \"/\" on a device.",
}

// Example returns a YAML file that documents every key and sets it to its
// default; loading it gives Default().
func Example() string {
	var b strings.Builder
	b.WriteString(`# edgeclip daemon configuration (edgeclip run --config FILE).
#
# Every key is shown with its default value. Each can also be set by an
# environment variable, EDGECLIP_<SECTION>_<KEY> (the "env" line above it),
# which overrides this file; command-line flags override both.
# Check a file with: edgeclip run --check --config FILE
`)
	writeStruct(&b, reflect.ValueOf(Default()).Elem(), "", 0)
	return b.String()
}

func writeStruct(b *strings.Builder, v reflect.Value, prefix string, depth int) {
	ind := strings.Repeat("  ", depth)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		key := prefix + name
		if i > 0 || depth == 0 {
			b.WriteString("\n")
		}
		for _, line := range strings.Split(help[key], "\n") {
			b.WriteString(ind + "# " + line + "\n")
		}
		if f.Type.Kind() == reflect.Struct {
			b.WriteString(ind + name + ":\n")
			writeStruct(b, v.Field(i), key+".", depth+1)
			continue
		}
		b.WriteString(ind + "# env " + EnvName(key) + "\n")
		b.WriteString(ind + name + ": " + scalar(v.Field(i)) + "\n")
	}
}

// scalar writes one value as YAML that setString reads back.
func scalar(v reflect.Value) string {
	switch v.Type() {
	case durationType:
		return formatDuration(time.Duration(v.Int()))
	case sizeType:
		return ByteSize(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		var q []string
		for i := range v.Len() {
			q = append(q, strconv.Quote(v.Index(i).String()))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return ""
}
