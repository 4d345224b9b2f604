package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/edgeclip/edgeclip/config"
	"github.com/edgeclip/edgeclip/mqtt"
)

func init() {
	register(command{name: "query", short: "ask one device or the whole fleet over MQTT when something was seen", run: runQuery})
}

// connFlags are the MQTT connection flags shared by `edgeclip query` and
// `edgeclip alerts`. The password comes from a file or the environment,
// never from the command line (where `ps` shows it).
type connFlags struct {
	config, broker, root, username, passwordFile string
	caFile, certFile, keyFile, serverName        string
	insecure                                     bool
	deadline                                     time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet, deadline time.Duration) {
	fs.StringVar(&c.config, "config", "", "take broker, root, credentials and TLS from this daemon config file")
	fs.StringVar(&c.broker, "broker", "", "broker URL (default tcp://127.0.0.1:1883, the embedded broker of 'edgeclip run')")
	fs.StringVar(&c.root, "root", "", "topic root of the fleet (default edgeclip)")
	fs.StringVar(&c.username, "username", "", "broker user name")
	fs.StringVar(&c.passwordFile, "password-file", "", "file whose first line is the password (else $EDGECLIP_MQTT_PASSWORD)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM CA bundle for ssl:// brokers")
	fs.StringVar(&c.certFile, "cert-file", "", "PEM client certificate")
	fs.StringVar(&c.keyFile, "key-file", "", "PEM client key")
	fs.StringVar(&c.serverName, "server-name", "", "host name expected in the broker's certificate")
	fs.BoolVar(&c.insecure, "insecure", false, "accept any broker certificate (tests only)")
	fs.DurationVar(&c.deadline, "deadline", deadline, "how long to wait for replies")
}

// options builds the connection: the config file first (when given), then
// the flags that were set.
func (c *connFlags) options(fs *flag.FlagSet) (mqtt.ConnOptions, error) {
	var o mqtt.ConnOptions
	if c.config != "" {
		cfg, err := config.Load(c.config)
		if err != nil {
			return o, err
		}
		o.Broker, o.Root, o.Username = cfg.MQTT.Broker, cfg.MQTT.Root, cfg.MQTT.Username
		if o.Broker == "" && cfg.MQTT.EmbeddedListen != "" {
			o.Broker = "tcp://" + cfg.MQTT.EmbeddedListen
		}
		if o.Password, err = cfg.MQTTPassword(); err != nil {
			return o, err
		}
		t := cfg.MQTT.TLS
		o.TLS = mqtt.TLSOptions{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
			InsecureSkipVerify: t.InsecureSkipVerify}
	}
	set := func(name string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("broker", &o.Broker, c.broker)
	set("root", &o.Root, c.root)
	set("username", &o.Username, c.username)
	set("ca-file", &o.TLS.CAFile, c.caFile)
	set("cert-file", &o.TLS.CertFile, c.certFile)
	set("key-file", &o.TLS.KeyFile, c.keyFile)
	set("server-name", &o.TLS.ServerName, c.serverName)
	if fs.Changed("insecure") {
		o.TLS.InsecureSkipVerify = c.insecure
	}
	if c.passwordFile != "" {
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return o, fmt.Errorf("--password-file: %w", err)
		}
		o.Password, _, _ = strings.Cut(strings.TrimRight(string(b), "\r\n"), "\n")
	} else if p := os.Getenv("EDGECLIP_MQTT_PASSWORD"); p != "" {
		o.Password = p
	}
	if c.deadline <= 0 {
		return o, fmt.Errorf("--deadline %s: want a positive duration", c.deadline)
	}
	return o, nil
}

// queryFlags are the request fields of `edgeclip query`.
type queryFlags struct {
	device       string
	topK         int
	since, until string
	labels       []string
	imageSeq     uint64
	minScore     float64
	thumbnails   bool
	json         bool
	negatives    []string
	noContrast   bool
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", "[flags] [TEXT]", stderr)
	var cf connFlags
	cf.register(fs, 5*time.Second)
	var qf queryFlags
	fs.StringVar(&qf.device, "device", "all", "device id, or all for the whole fleet (waits the full deadline)")
	fs.IntVar(&qf.topK, "top-k", 0, "best frames per device (default 10)")
	fs.StringVar(&qf.since, "since", "", "start of the window: RFC 3339 time, or a duration ago (30m, 2h)")
	fs.StringVar(&qf.until, "until", "", "end of the window: RFC 3339 time, a duration ago, or now")
	fs.StringSliceVar(&qf.labels, "labels", nil, "classify the newest frame (or --image-seq) among these labels, comma separated")
	fs.Uint64Var(&qf.imageSeq, "image-seq", 0, "search for frames like this frame of the history, instead of TEXT")
	fs.Float64Var(&qf.minScore, "min-score", 0, "lowest calibrated score of a match (default: the device's threshold)")
	fs.BoolVar(&qf.thumbnails, "thumbnails", false, "include JPEG thumbnails (base64, in --json output)")
	fs.StringArrayVar(&qf.negatives, "negative", nil, "a prompt the TEXT must beat, e.g. \"a red bus\" (repeatable)")
	fs.BoolVar(&qf.noContrast, "no-contrast", false, "do not calibrate against the TEXT's contrast prompts (one word swapped)")
	fs.BoolVar(&qf.json, "json", false, "print the replies as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	text := strings.Join(fs.Args(), " ")
	chosen := 0
	for _, set := range []bool{text != "", len(qf.labels) > 0, qf.imageSeq != 0} {
		if set {
			chosen++
		}
	}
	// Labels may be combined with --image-seq (classify that frame).
	if chosen == 0 || (chosen > 1 && !(text == "" && len(qf.labels) > 0)) {
		fmt.Fprintln(stderr, "edgeclip query: give exactly one of TEXT, --labels or --image-seq")
		fs.Usage()
		return errUsage
	}
	opts, err := cf.options(fs)
	if err != nil {
		return err
	}
	req := mqtt.QueryRequest{Text: text, Labels: qf.labels, ImageSeq: qf.imageSeq, TopK: qf.topK, Thumbnails: qf.thumbnails,
		Negatives: qf.negatives, NoContrast: qf.noContrast}
	now := time.Now()
	for _, w := range []struct {
		flag, v string
		dst     **time.Time
	}{{"since", qf.since, &req.Since}, {"until", qf.until, &req.Until}} {
		if w.v == "" {
			continue
		}
		t, err := parseWhen(w.v, now)
		if err != nil {
			return fmt.Errorf("--%s: %w", w.flag, err)
		}
		*w.dst = &t
	}
	if fs.Changed("min-score") {
		req.MinScore = &qf.minScore
	}
	opts.Logger = cliLogger(stderr)
	start := time.Now()
	replies, err := mqtt.QueryFleet(ctx, opts, qf.device, req, cf.deadline)
	if err != nil {
		return err
	}
	if qf.json {
		if err := writeRepliesJSON(stdout, replies); err != nil {
			return err
		}
	} else {
		writeRepliesTable(stdout, replies, len(qf.labels) > 0)
	}
	if len(replies) == 0 {
		return fmt.Errorf("no device answered within %s", cf.deadline)
	}
	fmt.Fprintf(stderr, "%d device(s) answered in %s\n", len(replies), time.Since(start).Round(time.Millisecond))
	for _, r := range replies {
		if r.Err != nil {
			return errors.New("some devices answered with an error")
		}
	}
	return nil
}

// parseWhen reads an RFC 3339 time, "now", or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-01-02T15:04:05Z), now, or a duration ago (30m)", s)
	}
	return now.Add(-d), nil
}

// cliReply is one device's entry in `edgeclip query --json`.
type cliReply struct {
	Device string           `json:"device"`
	Reply  *mqtt.QueryReply `json:"reply,omitempty"`
	Error  *mqtt.ErrorBody  `json:"error,omitempty"`
}

func writeRepliesJSON(w io.Writer, replies []mqtt.DeviceReply) error {
	out := make([]cliReply, 0, len(replies))
	for _, r := range replies {
		out = append(out, cliReply{Device: r.Device, Reply: r.Reply, Error: r.Err})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeRepliesTable prints one line per interval (or per label) and device.
func writeRepliesTable(w io.Writer, replies []mqtt.DeviceReply, labels bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if labels {
		fmt.Fprintln(tw, "DEVICE\tLABEL\tPROBABILITY\tFRAME\tTIME")
	} else {
		fmt.Fprintln(tw, "DEVICE\tSTART\tEND\tLENGTH\tPEAK\tBEST FRAME")
	}
	for _, r := range replies {
		switch {
		case r.Err != nil:
			fmt.Fprintf(tw, "%s\terror: %s\n", r.Device, errorText(r.Err))
		case labels:
			for _, f := range r.Reply.Frames {
				fmt.Fprintf(tw, "%s\t%s\t%.3f\t%d\t%s\n", r.Device, f.Label, f.Score, f.Seq, f.Time.Format(tableTime))
			}
		case len(r.Reply.Intervals) == 0:
			best := "-"
			if len(r.Reply.Frames) > 0 {
				f := r.Reply.Frames[0]
				best = fmt.Sprintf("best frame %d at %s, score %.3f", f.Seq, f.Time.Format(tableTime), f.Score)
			}
			fmt.Fprintf(tw, "%s\tno interval above the threshold (%s)\n", r.Device, best)
		default:
			for _, iv := range r.Reply.Intervals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%d\n", r.Device, iv.Start.Format(tableTime), iv.End.Format(tableTime),
					iv.End.Sub(iv.Start).Round(100*time.Millisecond), iv.PeakScore, iv.BestSeq)
			}
		}
	}
	tw.Flush()
}

const tableTime = "2006-01-02 15:04:05.0"

func errorText(e *mqtt.ErrorBody) string {
	if e.Field != "" {
		return fmt.Sprintf("%s: field %s: %s", e.Code, e.Field, e.Message)
	}
	return e.Code + ": " + e.Message
}

// defaultDevice is the device id `edgeclip run` uses when none is
// configured: the host name with characters outside A-Z a-z 0-9 _ -
// replaced by -.
func defaultDevice() string {
	h, _ := os.Hostname()
	var b strings.Builder
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			c = '-'
		}
		b.WriteRune(c)
	}
	if b.Len() == 0 || b.Len() > 64 {
		return "edgeclip"
	}
	return b.String()
}

// cliLogger shows the MQTT client's warnings (credentials over plain TCP).
func cliLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
