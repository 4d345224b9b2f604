// Package mqtt is edgeclip's MQTT API: it answers queries and manages
// standing alerts for a Handler (the daemon), publishes retained status,
// alert states and events, and loses no reply or alert event when the broker
// goes away (QoS 1 plus an fsync'd on-disk outbox). It also has an embedded
// broker, fleet query helpers and Home Assistant discovery. Topics and
// payloads are documented in docs/mqtt.md.
package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Client connects one device to the broker. It is safe for concurrent use.
type Client struct {
	opts Options
	h    Handler
	log  *slog.Logger
	pc   paho.Client
	t    topics

	work   chan job     // requests waiting for a worker (bounded)
	busyq  chan message // busy replies, sent off paho's goroutine
	sendq  chan message // QoS 1 replies and events, in order, to the sender
	outbox *outbox
	dedup  *dedup
	tk     *takeoverDetector

	ctx    context.Context // cancelled by Close; parent of handler contexts
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	// pubMu orders the retained publishes (on connect, SetStatus, the status
	// repair) before Close's "stopped": holders check closed and publish
	// nothing once it is set.
	pubMu  sync.Mutex
	repair chan struct{} // asks statusRepairer to republish "online" (coalesced)

	mu        sync.Mutex
	connected bool
	up        chan struct{}     // closed while connected
	lost      chan struct{}     // closed when the current connection is lost
	retained  map[string][]byte // latest retained payloads, republished on connect
	eventSeq  uint64

	n counters
}

// Counters are running totals, for tests, logs and stats.
type Counters struct {
	Requests        uint64 // requests received
	Handled         uint64 // handler calls
	ErrorReplies    uint64 // error replies (bad input, handler errors, busy)
	Busy            uint64 // requests refused because the pool was full
	Redelivered     uint64 // duplicate request ids answered from the cache
	Sent            uint64 // QoS 1 messages acknowledged by the broker
	OutboxAppended  uint64 // messages that had to wait in the outbox
	OutboxDropped   uint64 // messages lost because the outbox was full
	Connects        uint64
	ConnectionLosts uint64
}

type counters struct {
	requests, handled, errorReplies, busy, redelivered, sent atomic.Uint64
	outboxAppended, outboxDropped, connects, connectionLosts atomic.Uint64
}

// Counters returns a snapshot of the running totals.
func (c *Client) Counters() Counters {
	return Counters{
		Requests: c.n.requests.Load(), Handled: c.n.handled.Load(), ErrorReplies: c.n.errorReplies.Load(),
		Busy: c.n.busy.Load(), Redelivered: c.n.redelivered.Load(), Sent: c.n.sent.Load(),
		OutboxAppended: c.n.outboxAppended.Load(), OutboxDropped: c.n.outboxDropped.Load(),
		Connects: c.n.connects.Load(), ConnectionLosts: c.n.connectionLosts.Load(),
	}
}

// New checks the options, opens the outbox and prepares the connection.
// Nothing is sent until Start. h must not be nil.
func New(h Handler, opts *Options) (*Client, error) {
	if h == nil {
		return nil, errors.New("mqtt: nil Handler")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ob, err := openOutbox(o.OutboxDir, o.OutboxMaxMessages, o.OutboxMaxBytes)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts: o, h: h, log: o.Logger.With("mqtt_client", o.ClientID),
		t:      topics{prefix: o.Prefix, root: o.Root},
		work:   make(chan job, o.QueueLen),
		busyq:  make(chan message, 64),
		repair: make(chan struct{}, 1),
		sendq:  make(chan message, 256),
		outbox: ob, dedup: newDedup(o.DedupSize, 8<<20),
		tk:       &takeoverDetector{opts: o.Takeover, clientID: o.ClientID},
		up:       make(chan struct{}),
		lost:     make(chan struct{}),
		retained: make(map[string][]byte),
	}
	close(c.lost) // not connected yet
	c.ctx, c.cancel = context.WithCancel(context.Background())
	st := o.Status
	st.State, st.Device = "online", o.DeviceID
	if c.retained[c.t.status()], err = encode(st); err != nil {
		return nil, err
	}

	po, err := c.pahoOptions()
	if err != nil {
		return nil, err
	}
	c.pc = paho.NewClient(po)
	return c, nil
}

func (c *Client) pahoOptions() (*paho.ClientOptions, error) {
	o := c.opts
	will := mustJSON(Status{State: "offline", Device: o.DeviceID})
	po := paho.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetCleanSession(o.CleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(min(time.Second, o.MaxReconnectInterval)).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(10*time.Second, o.KeepAlive)).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.PublishTimeout).
		SetOrderMatters(true). // handlers only enqueue, so this cannot stall
		SetResumeSubs(false).  // subscriptions are made again in onConnect
		SetBinaryWill(c.t.status(), will, 1, true).
		SetStore(newCopyStore()).
		SetDefaultPublishHandler(c.onMessage).
		SetOnConnectHandler(c.onConnect).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { c.setDisconnected() }).
		SetConnectionLostHandler(c.onConnectionLost)
	if o.Username != "" || o.Password != "" {
		po.SetUsername(o.Username).SetPassword(o.Password)
	}
	if o.TLS.enabled() {
		cfg, err := o.TLS.config()
		if err != nil {
			return nil, err
		}
		po.SetTLSConfig(cfg)
	}
	if why, risky := plainCredentialsRisk(o.Broker, o.Username, o.Password, o.TLS.enabled()); risky {
		c.log.Warn("mqtt: insecure broker connection", "reason", why)
	}
	return po, nil
}

// Start begins connecting (retrying until the broker is there) and starts
// the workers and the sender. It does not wait for the connection; see
// WaitConnected.
func (c *Client) Start() error {
	if c.closed.Load() {
		return errors.New("mqtt: Start after Close")
	}
	for range c.opts.Workers {
		c.wg.Go(c.worker)
	}
	c.wg.Go(c.busyReplier)
	c.wg.Go(c.sender)
	c.wg.Go(c.statusRepairer)
	c.pc.Connect() // with ConnectRetry the token only completes once connected
	return nil
}

// WaitConnected blocks until the client is connected or ctx is done.
func (c *Client) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: %s: waiting for connection: %w", c.opts.Broker, ctx.Err())
	}
}

// Connected reports whether the client is connected and subscribed.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Close publishes the retained "stopped" status, stops the workers, keeps
// unsent replies and events in the outbox and disconnects. Requests still
// queued are dropped.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	stopped := Status{State: "stopped", Device: c.opts.DeviceID, Time: time.Now().UTC()}
	var err error
	// Every retained publish that took pubMu before us is queued ahead of
	// "stopped"; later ones see closed and send nothing, so "stopped" stays.
	// The connection may be up while onConnect has not finished yet, hence
	// paho's view rather than Connected.
	c.pubMu.Lock()
	var tok paho.Token
	if c.pc.IsConnectionOpen() {
		tok = c.pc.Publish(c.t.status(), 1, true, mustJSON(stopped))
	}
	c.pubMu.Unlock()
	if tok != nil {
		if !tok.WaitTimeout(min(2*time.Second, c.opts.PublishTimeout)) {
			err = fmt.Errorf("mqtt: %s: publishing stopped status: timed out", c.opts.Broker)
		} else if tok.Error() != nil {
			err = fmt.Errorf("mqtt: %s: publishing stopped status: %w", c.opts.Broker, tok.Error())
		}
	}
	c.cancel()
	c.wg.Wait()
	// Disconnect returns once the DISCONNECT is written; the bound only
	// matters on a stalled link. Without it the broker publishes the will
	// over "stopped".
	c.pc.Disconnect(uint(min(2*time.Second, c.opts.PublishTimeout).Milliseconds()))
	return err
}

func (c *Client) onConnect(pc paho.Client) {
	c.tk.connected(time.Now())
	c.n.connects.Add(1)
	subs := make(map[string]byte)
	for _, t := range c.t.inputs() {
		subs[t] = 1
	}
	subs[c.t.status()] = 1                 // to repair a will that lands after we came back
	tok := pc.SubscribeMultiple(subs, nil) // messages go to the default handler
	if !tok.WaitTimeout(c.opts.ConnectTimeout) || tok.Error() != nil {
		// Usually the connection died under us and paho reconnects; the
		// persistent session keeps earlier subscriptions meanwhile.
		c.log.Error("mqtt: subscribe failed", "err", tok.Error())
		return
	}
	c.republish()
	if c.opts.HomeAssistant != nil {
		c.wg.Go(c.publishDiscovery)
	}
	c.mu.Lock()
	if !c.connected {
		c.connected = true
		c.lost = make(chan struct{})
		close(c.up)
	}
	c.mu.Unlock()
	c.log.Info("mqtt: connected", "broker", c.opts.Broker, "prefix", c.opts.Prefix)
}

func (c *Client) setDisconnected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setDisconnectedLocked()
}

func (c *Client) setDisconnectedLocked() {
	if c.connected {
		c.connected = false
		close(c.lost)
		c.up = make(chan struct{})
	}
}

// checkOwnStatus asks for "online" to be republished when the broker shows
// this device as offline: a broker may publish the will of the old
// connection after the new one is up (mochi does when the new connection
// takes the session over before it noticed the old one die). The message
// came over a live connection, so it is repaired even while onConnect is
// still running: the will can land after onConnect's own "online".
func (c *Client) checkOwnStatus(p []byte) {
	var st struct {
		State string `json:"state"`
	}
	if json.Unmarshal(p, &st) != nil || st.State == "online" || c.closed.Load() {
		return
	}
	select { // never block paho's goroutine; one pending repair is enough
	case c.repair <- struct{}{}:
	default:
	}
}

// statusRepairer republishes the retained "online" status on request, off
// paho's goroutine (a Publish there can stall the client).
func (c *Client) statusRepairer() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.repair:
		}
		c.republish(c.t.status())
	}
}

// republish sends the retained payloads of topics (every retained topic
// when none is named), unless Close has begun: under pubMu, so nothing
// lands after "stopped". Latest wins; a loss is repaired on the next connect.
func (c *Client) republish(topics ...string) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if c.closed.Load() {
		return
	}
	c.mu.Lock()
	pending := make(map[string][]byte, len(c.retained))
	for t, p := range c.retained {
		if len(topics) == 0 || slices.Contains(topics, t) {
			pending[t] = p
		}
	}
	c.mu.Unlock()
	for t, p := range pending {
		c.pc.Publish(t, 1, true, p)
	}
}

func (c *Client) onConnectionLost(pc paho.Client, err error) {
	// paho runs this on a goroutine of its own, started together with the
	// reconnect; under load it can run after that reconnect and onConnect
	// have finished, and marking the new connection down would stop the
	// status repair and Close's "stopped". The reconnecting handler has
	// already marked the lost connection down, so only act while paho still
	// reports no connection.
	c.mu.Lock()
	if !pc.IsConnectionOpen() {
		c.setDisconnectedLocked()
	}
	c.mu.Unlock()
	c.n.connectionLosts.Add(1)
	c.log.Warn("mqtt: connection lost", "broker", c.opts.Broker, "err", err)
	if rep, loop := c.tk.lost(time.Now(), err); loop {
		c.log.Warn("mqtt: client id takeover loop suspected: another process may be using this client id",
			"client_id", rep.ClientID, "losses", rep.Losses, "window", rep.Window)
		if f := c.opts.Takeover.OnTakeover; f != nil {
			f(rep)
		}
	}
}

// SetStatus publishes the retained "online" status (State and Device are
// filled in) and keeps it for every reconnect.
func (c *Client) SetStatus(s Status) error {
	s.State, s.Device = "online", c.opts.DeviceID
	if s.Time.IsZero() {
		s.Time = time.Now().UTC()
	}
	b, err := encode(s)
	if err != nil {
		return err
	}
	return c.setRetained(c.t.status(), b)
}

// SetAlertState publishes the retained on/off state of an alert.
func (c *Client) SetAlertState(name string, on bool) error {
	if !isName(name, 64, "") {
		return fmt.Errorf("mqtt: alert %q: invalid name", name)
	}
	p := []byte("off")
	if on {
		p = []byte("on")
	}
	return c.setRetained(c.t.alertState(name), p)
}

func (c *Client) setRetained(topic string, p []byte) error {
	c.pubMu.Lock()
	c.mu.Lock()
	if len(p) == 0 {
		delete(c.retained, topic)
	} else {
		c.retained[topic] = p
	}
	c.mu.Unlock()
	// paho's view, not Connected: onConnect may have taken its copy of
	// c.retained already without having marked the client connected yet.
	if !c.pc.IsConnectionOpen() || c.closed.Load() {
		c.pubMu.Unlock()
		return nil // sent on connect; nothing goes out after "stopped"
	}
	tok := c.pc.Publish(topic, 1, true, p)
	c.pubMu.Unlock()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt: %s: %w", topic, err)
		}
	case <-time.After(c.opts.PublishTimeout):
		// still sent on the next connect
	}
	return nil
}

// PublishAlertEvent sends an alert start/end event with QoS 1; when the
// broker is unreachable it waits in the outbox. ctx bounds waiting for room
// in the send queue.
func (c *Client) PublishAlertEvent(ctx context.Context, ev AlertEvent) error {
	if !isName(ev.Alert, 64, "") {
		return fmt.Errorf("mqtt: alert event: invalid alert name %q", ev.Alert)
	}
	if ev.Kind != "start" && ev.Kind != "end" {
		return fmt.Errorf("mqtt: alert %s: event kind %q, want start or end", ev.Alert, ev.Kind)
	}
	ev.Device = c.opts.DeviceID
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.EventID == "" {
		c.mu.Lock()
		c.eventSeq++
		ev.EventID = fmt.Sprintf("%s-%d-%d", c.opts.DeviceID, ev.Time.UnixNano(), c.eventSeq)
		c.mu.Unlock()
	}
	b, err := encode(ev)
	if err != nil {
		return err
	}
	return c.enqueue(ctx, message{Topic: c.t.alertEvent(ev.Alert), Payload: b, QoS: 1})
}

// PublishStats sends stats with QoS 0; nothing is kept while disconnected.
func (c *Client) PublishStats(s Stats) error {
	if !c.Connected() {
		return fmt.Errorf("mqtt: %s: stats: %w", c.opts.Broker, paho.ErrNotConnected)
	}
	if s.Time.IsZero() {
		s.Time = time.Now().UTC()
	}
	b, err := encode(s)
	if err != nil {
		return err
	}
	c.pc.Publish(c.t.stats(), 0, false, b)
	return nil
}

// Device is this client's device id.
func (c *Client) Device() string { return c.opts.DeviceID }

// Prefix is this client's topic prefix.
func (c *Client) Prefix() string { return c.opts.Prefix }

// encode marshals a payload; NaN or Inf in a float is the usual failure.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mqtt: encoding %T: %w", v, err)
	}
	return b, nil
}

// mustJSON is for payloads built only from strings, ints and times.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("mqtt: marshal " + fmt.Sprintf("%T", v) + ": " + err.Error()) // a bug in this package
	}
	return b
}
