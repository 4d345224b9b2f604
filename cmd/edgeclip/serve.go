package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/board"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/config"
	"github.com/edgeclip/edgeclip/daemon"
	"github.com/edgeclip/edgeclip/health"
	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/sdnotify"
)

// serve runs the daemon with its MQTT API, health endpoint and systemd
// integration until ctx ends.
func serve(ctx context.Context, cfg *config.Config, f *runFlags, stderr io.Writer, log *slog.Logger) error {
	opts, err := daemonOptions(cfg, f, log)
	if err != nil {
		return err
	}
	metrics := health.NewMetrics()
	hl := health.New(metrics, log)
	wd, err := sdnotify.NewWatchdog(&sdnotify.WatchdogOptions{Logger: log})
	if err != nil {
		return err
	}
	loops := map[string]*sdnotify.Loop{"capture": wd.Loop("capture"), "pipeline": wd.Loop("inference"), "mqtt": wd.Loop("mqtt")}
	beat, err := faultyBeat(ctx, os.Getenv("EDGECLIP_FAULT"), log)
	if err != nil {
		return err
	}
	opts.Beat = func(name string) {
		if l := loops[name]; l != nil {
			beat(l)
		}
	}
	var client *mqtt.Client
	opts.OnEvent = func(ev alert.Event) {
		if ev.Kind == alert.Start {
			metrics.AlertsFired.WithLabelValues(ev.Name).Inc()
		}
		metrics.AlertActive.WithLabelValues(ev.Name).Set(map[bool]float64{true: 1}[ev.Kind == alert.Start])
		if client == nil {
			return
		}
		if err := client.SetAlertState(ev.Name, ev.Kind == alert.Start); err != nil {
			log.Warn("alert state not published", "alert", ev.Name, "err", err)
		}
		// Events go through the outbox: they are never lost while the broker is away.
		if err := client.PublishAlertEvent(ctx, mqtt.AlertEvent{Alert: ev.Name, Kind: string(ev.Kind), Time: ev.Time,
			Score: float64(ev.Score), ThumbSeq: ev.BestSeq}); err != nil {
			log.Warn("alert event not published", "alert", ev.Name, "err", err)
		}
	}
	d, err := daemon.New(ctx, opts)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := addAlerts(ctx, d, f.alerts); err != nil {
		return err
	}
	st := d.Status()
	metrics.SetInfo(version, st.Model, st.Backend, st.Precision)
	hl.AddReadyCheck("model", func(context.Context) error { return nil })
	hl.AddReadyCheck("source", func(context.Context) error {
		if s := d.Status().Source; s.State != camera.StateUp {
			return fmt.Errorf("source is %s: %s", s.State, s.LastError)
		}
		return nil
	})
	hl.AddLiveCheck("watchdog", wd.Check)

	// MQTT: the configured broker, or an embedded one on loopback.
	brokerURL := cfg.MQTT.Broker
	if brokerURL == "" {
		b, err := mqtt.StartBroker(context.WithoutCancel(ctx), mqtt.BrokerOptions{Addr: cfg.MQTT.EmbeddedListen, Logger: log})
		if err != nil {
			return fmt.Errorf("embedded MQTT broker: %w", err)
		}
		defer func() {
			// Let the final "stopped" status reach subscribers before the
			// embedded broker goes away with the daemon.
			time.Sleep(250 * time.Millisecond)
			b.Close()
		}()
		brokerURL = b.URL()
		log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	pw, err := cfg.MQTTPassword()
	if err != nil {
		return err
	}
	mo := &mqtt.Options{
		Broker: brokerURL, DeviceID: cfg.DeviceID, ClientID: cfg.MQTT.ClientID, Root: cfg.MQTT.Root, Prefix: cfg.MQTT.Prefix,
		Username: cfg.MQTT.Username, Password: pw,
		TLS: mqtt.TLSOptions{CAFile: cfg.MQTT.TLS.CAFile, CertFile: cfg.MQTT.TLS.CertFile, KeyFile: cfg.MQTT.TLS.KeyFile,
			ServerName: cfg.MQTT.TLS.ServerName, InsecureSkipVerify: cfg.MQTT.TLS.InsecureSkipVerify},
		Limits:    mqtt.Limits{MaxPayload: int(cfg.MQTT.MaxPayload)},
		Workers:   cfg.MQTT.Workers,
		OutboxDir: cfg.OutboxDir(), OutboxMaxBytes: int64(cfg.MQTT.OutboxMaxBytes),
		Status: mqtt.Status{State: "online", Version: version, Model: st.Model, ModelHash: st.ModelHash, Backend: st.Backend,
			Source: string(st.Source.State)},
		Logger: log,
	}
	if cfg.MQTT.HomeAssistant.Enabled {
		mo.HomeAssistant = &mqtt.HAOptions{DiscoveryPrefix: cfg.MQTT.HomeAssistant.Prefix}
	}
	api := &mqttAPI{d: d, observe: func(t time.Duration) { metrics.QuerySeconds.Observe(t.Seconds()) }}
	if client, err = mqtt.New(api, mo); err != nil {
		return err
	}
	api.device = client.Device()
	if err := client.Start(); err != nil {
		return err
	}
	defer client.Close()
	hl.AddReadyCheck("broker", func(context.Context) error {
		if !client.Connected() {
			return errors.New("not connected to " + brokerURL)
		}
		return nil
	})

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	if cfg.HTTP.Listen != "" {
		go func() {
			if err := hl.Serve(rctx, cfg.HTTP.Listen); err != nil {
				log.Error("health endpoint stopped", "err", err)
			}
		}()
	}
	go telemetryLoop(rctx, d, client, metrics, cfg, func() { beat(loops["mqtt"]) }, wd.Period()/2, log)
	go wd.Run(rctx)
	done := make(chan struct{})
	go reportLoop(rctx, d, f, stderr, log, done)
	log.Info("edgeclip running", "model", st.Model, "hash", st.ModelHash, "backend", st.Backend, "precision", st.Precision,
		"source", camera.Redact(opts.Source), "history", opts.History.Dir, "mqtt", brokerURL, "prefix", client.Prefix())
	var runErr error
	ended := make(chan struct{})
	go func() { runErr = d.Run(ctx); close(ended) }()
	if !waitUp(ctx, d, client, ended, readyWait) {
		log.Warn("not every part is up yet; reporting ready anyway (see /readyz)", "source", d.Status().Source.State,
			"broker_connected", client.Connected())
	}
	sdnotify.Ready()
	<-ended
	err = runErr
	close(done)
	sdnotify.Stopping()
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	log.Info("edgeclip stopped", "status", d.Status().Line())
	return err
}

// readyWait bounds how long READY=1 waits for the source and the broker: a
// camera or broker that is down at boot must not make systemd kill the
// daemon (TimeoutStartSec); /readyz keeps naming the missing part.
const readyWait = 10 * time.Second

// waitUp waits until the source delivers and the MQTT client is connected
// (the model is loaded by then), or Run ended, or max passed. It reports
// whether everything came up.
func waitUp(ctx context.Context, d *daemon.Daemon, c *mqtt.Client, ended <-chan struct{}, max time.Duration) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(max)
	for {
		if d.Status().Source.State == camera.StateUp && c.Connected() {
			return true
		}
		select {
		case <-ended:
			return false
		case <-ctx.Done():
			return false
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

// faultyBeat returns the function that beats a watchdog loop. With
// EDGECLIP_FAULT=hang:LOOP[:AFTER] (LOOP is capture, inference or mqtt;
// AFTER a duration, default 0) that loop's beat blocks from AFTER after
// start until ctx ends, exactly as if the loop had hung there: its work
// stops and the systemd watchdog withholds pings. It exists for the
// end-to-end watchdog test; leave it unset in production.
func faultyBeat(ctx context.Context, fault string, log *slog.Logger) (func(*sdnotify.Loop), error) {
	plain := func(l *sdnotify.Loop) { l.Beat() }
	if fault == "" {
		return plain, nil
	}
	parts := strings.Split(fault, ":")
	var after time.Duration
	var err error
	if len(parts) == 3 {
		after, err = time.ParseDuration(parts[2])
	}
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "hang" || err != nil || after < 0 ||
		(parts[1] != "capture" && parts[1] != "inference" && parts[1] != "mqtt") {
		return nil, fmt.Errorf("EDGECLIP_FAULT=%q: want hang:LOOP[:AFTER] with LOOP capture, inference or mqtt", fault)
	}
	loop, start := parts[1], time.Now()
	log.Warn("fault injection on: a loop will hang", "loop", loop, "after", after)
	var once sync.Once
	return func(l *sdnotify.Loop) {
		if l.Name() != loop || time.Since(start) < after {
			l.Beat()
			return
		}
		once.Do(func() { log.Warn("fault injection: loop hangs now", "loop", loop) })
		<-ctx.Done()
	}, nil
}

// telemetryLoop feeds metrics every second and MQTT stats every
// stats_interval; it is also the MQTT loop the watchdog watches: it beats
// every beatEvery (half the watchdog's check period), which a short
// WatchdogSec makes shorter than a second.
func telemetryLoop(ctx context.Context, d *daemon.Daemon, c *mqtt.Client, m *health.Metrics, cfg *config.Config,
	beat func(), beatEvery time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	beats := time.NewTicker(min(beatEvery, time.Second))
	defer beats.Stop()
	b, err := board.New(board.Options{Root: cfg.Board.Root})
	if err != nil {
		log.Warn("board telemetry off", "err", err)
	}
	lastStats, lastThrottle := time.Time{}, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-beats.C:
			beat()
			continue
		case <-tick.C:
		}
		beat()
		st := d.Status()
		m.FramesCaptured.SetTotal(float64(st.Source.Frames))
		m.FramesEncoded.SetTotal(float64(st.Pipeline.Encoded))
		m.FramesGated.SetTotal(float64(st.Pipeline.Gated))
		m.FramesDropped.SetTotal(float64(st.Dropped))
		m.BadFrames.SetTotal(float64(st.Source.BadFrames))
		m.SourceReconnects.SetTotal(float64(st.Source.Reconnects))
		m.SetSourceState(string(st.Source.State))
		m.StoreBytes.Set(float64(st.Store.DiskBytes))
		m.StoreRecords.Set(float64(st.Store.Records))
		m.RetentionSegments.SetTotal(float64(st.Store.DroppedSegments))
		m.RetentionRecords.SetTotal(float64(st.Store.DroppedRecords))
		health.SetBool(m.MQTTConnected, c.Connected())
		if time.Since(lastStats) < cfg.MQTT.StatsInterval {
			continue
		}
		lastStats = time.Now()
		var sample board.Sample
		if b != nil {
			sample = b.Sample()
		}
		temps := map[string]float64{}
		for _, z := range sample.Temps {
			temps[z.Zone] = z.Celsius
			m.BoardTemperature.WithLabelValues(z.Zone).Set(z.Celsius)
		}
		throttled := len(sample.Throttle) > 0
		health.SetBool(m.BoardThrottled, throttled)
		if throttled && !lastThrottle {
			log.Warn("board is throttling", "why", sample.Throttle)
		}
		lastThrottle = throttled
		if err := c.PublishStats(mqtt.Stats{Time: time.Now(), FPS: st.Pipeline.FPS, Drops: st.Dropped, Gated: st.Pipeline.Gated,
			EncodeP50MS: float64(st.Pipeline.EncodeP50.Microseconds()) / 1000, EncodeP99MS: float64(st.Pipeline.EncodeP99.Microseconds()) / 1000,
			StoreBytes: st.Store.DiskBytes, StoreFrames: int64(st.Store.Records), TempsC: temps}); err != nil {
			log.Debug("stats not published", "err", err)
		}
	}
}
