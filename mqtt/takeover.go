package mqtt

import (
	"strings"
	"sync"
	"time"
)

// TakeoverOptions tune the detector of client-id takeover loops: two
// processes sharing a client id make the broker drop each one's connection as
// the other connects, forever. MQTT 3.1.1 gives no reason code for this, so
// the sign is many connection losses, each shortly after connecting (or with
// an error saying the session was taken over), within a window.
type TakeoverOptions struct {
	Losses     int           // losses that make a loop; default 5
	Window     time.Duration // default 60 s
	ShortLived time.Duration // a connection shorter than this counts; default 10 s
	// OnTakeover is called (at most once per Window) when a loop is seen;
	// a warning is logged either way.
	OnTakeover func(TakeoverReport)
}

func (o TakeoverOptions) withDefaults() TakeoverOptions {
	setDefault(&o.Losses, 5)
	setDefault(&o.Window, time.Minute)
	setDefault(&o.ShortLived, 10*time.Second)
	return o
}

// TakeoverReport describes a suspected takeover loop.
type TakeoverReport struct {
	ClientID  string
	Losses    int           // connection losses counted in Window
	Window    time.Duration //
	LastError string        // what the last loss said
}

type takeoverDetector struct {
	opts     TakeoverOptions
	clientID string

	mu          sync.Mutex
	connectedAt time.Time
	losses      []time.Time
	reported    time.Time
}

func (d *takeoverDetector) connected(now time.Time) {
	d.mu.Lock()
	d.connectedAt = now
	d.mu.Unlock()
}

// lost records a connection loss and returns a report when the recent losses
// look like a takeover loop.
func (d *takeoverDetector) lost(now time.Time, err error) (TakeoverReport, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	takenOver := strings.Contains(strings.ToLower(msg), "taken over")
	if !takenOver && (d.connectedAt.IsZero() || now.Sub(d.connectedAt) >= d.opts.ShortLived) {
		return TakeoverReport{}, false
	}
	cut := now.Add(-d.opts.Window)
	kept := d.losses[:0]
	for _, t := range d.losses {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	d.losses = append(kept, now)
	if len(d.losses) < d.opts.Losses || (!d.reported.IsZero() && now.Sub(d.reported) < d.opts.Window) {
		return TakeoverReport{}, false
	}
	d.reported = now
	return TakeoverReport{ClientID: d.clientID, Losses: len(d.losses), Window: d.opts.Window, LastError: msg}, true
}
