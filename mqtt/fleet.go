package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ConnOptions say how a command-line tool reaches the broker.
type ConnOptions struct {
	Broker   string // default tcp://127.0.0.1:1883
	Username string
	Password string
	TLS      TLSOptions
	Root     string // topic root of the fleet; default "edgeclip"
	ClientID string // default "edgeclip-cli-<random>"
	Logger   *slog.Logger
}

// DeviceReply is one device's answer to a fleet request: Reply, or Err.
type DeviceReply struct {
	Device string
	Reply  *QueryReply
	Err    *ErrorBody
}

// maxReplies bounds how many replies a fleet request keeps.
const maxReplies = 10000

// session is a short-lived client that sends requests and collects replies
// on its own reply topic.
type session struct {
	pc    paho.Client
	root  string
	reply string
	in    chan []byte
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func dial(ctx context.Context, o ConnOptions) (*session, error) {
	if o.Broker == "" {
		o.Broker = "tcp://127.0.0.1:1883"
	}
	if o.Root == "" {
		o.Root = "edgeclip"
	}
	tag := randomHex(6)
	if o.ClientID == "" {
		o.ClientID = "edgeclip-cli-" + tag
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &session{root: o.Root, reply: o.Root + "/cli-" + tag + "/reply/" + tag, in: make(chan []byte, 256)}
	po := paho.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
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
		o.Logger.Warn("mqtt: insecure broker connection", "reason", why)
	}
	s.pc = paho.NewClient(po)
	if err := wait(ctx, s.pc.Connect()); err != nil {
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", o.Broker, err)
	}
	sub := s.pc.Subscribe(s.reply, 1, func(_ paho.Client, m paho.Message) {
		select {
		case s.in <- m.Payload():
		default: // more replies than we can read: drop, the caller has enough
		}
	})
	if err := wait(ctx, sub); err != nil {
		s.pc.Disconnect(0)
		return nil, fmt.Errorf("mqtt: subscribing to %s: %w", s.reply, err)
	}
	return s, nil
}

func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *session) close() { s.pc.Disconnect(100) }

// publish sends a request to device (or "all" for the broadcast query).
func (s *session) publish(ctx context.Context, device, suffix string, req any) error {
	topic := DevicePrefix(s.root, device) + suffix
	if device == broadcastDevice {
		topic = BroadcastTopic(s.root)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("mqtt: %s: %w", topic, err)
	}
	if err := wait(ctx, s.pc.Publish(topic, 1, false, b)); err != nil {
		return fmt.Errorf("mqtt: publishing to %s: %w", topic, err)
	}
	return nil
}

// QueryFleet sends req to one device, or to every device when target is
// "all", and collects the replies until deadline (for one device, until it
// answers). Replies are sorted by device; a device that answers twice (a
// redelivery) is listed once. No reply from a single device is an error.
func QueryFleet(ctx context.Context, opts ConnOptions, target string, req QueryRequest, deadline time.Duration) ([]DeviceReply, error) {
	if target != broadcastDevice && !isName(target, 64, "") {
		return nil, fmt.Errorf("mqtt: query: invalid device %q", target)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	s, err := dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if req.ID == "" {
		req.ID = "q-" + randomHex(8)
	}
	req.ReplyTo = s.reply
	if err := s.publish(ctx, target, topicQuery, req); err != nil {
		return nil, err
	}
	seen := map[string]DeviceReply{}
	for len(seen) < maxReplies {
		select {
		case <-ctx.Done():
			if target != broadcastDevice && len(seen) == 0 {
				return nil, fmt.Errorf("mqtt: query %s: no reply from %s within %s", req.ID, target, deadline)
			}
			return sortReplies(seen), nil
		case b := <-s.in:
			var u struct {
				QueryReply
				Error *ErrorBody `json:"error"`
			}
			if json.Unmarshal(b, &u) != nil || u.ID != req.ID || u.Device == "" {
				continue // not an answer to this query
			}
			if _, dup := seen[u.Device]; dup {
				continue
			}
			dr := DeviceReply{Device: u.Device, Err: u.Error}
			if u.Error == nil {
				dr.Reply = &u.QueryReply
			}
			seen[u.Device] = dr
			if target != broadcastDevice {
				return sortReplies(seen), nil
			}
		}
	}
	return sortReplies(seen), nil
}

func sortReplies(m map[string]DeviceReply) []DeviceReply {
	out := make([]DeviceReply, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// call sends one request to one device and decodes its reply into out.
func call(ctx context.Context, opts ConnOptions, device, suffix string, build func(id, replyTo string) any, out any, deadline time.Duration) error {
	if !isName(device, 64, "") || device == broadcastDevice {
		return fmt.Errorf("mqtt: %s: invalid device %q", suffix, device)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	s, err := dial(ctx, opts)
	if err != nil {
		return err
	}
	defer s.close()
	id := "r-" + randomHex(8)
	if err := s.publish(ctx, device, suffix, build(id, s.reply)); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("mqtt: %s: no reply from %s within %s", suffix, device, deadline)
		case b := <-s.in:
			var head struct {
				ID    string     `json:"id"`
				Error *ErrorBody `json:"error"`
			}
			if json.Unmarshal(b, &head) != nil || head.ID != id {
				continue
			}
			if head.Error != nil {
				return fmt.Errorf("mqtt: %s on %s: %w", suffix, device, &RequestError{Code: head.Error.Code, Field: head.Error.Field, Message: head.Error.Message})
			}
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("mqtt: %s on %s: reply: %w", suffix, device, err)
			}
			return nil
		}
	}
}

// SetAlert creates or replaces a standing alert on a device.
func SetAlert(ctx context.Context, opts ConnOptions, device string, a AlertSpec, deadline time.Duration) error {
	var ok OKReply
	err := call(ctx, opts, device, topicAlertSet, func(id, r string) any {
		return alertSetRequest{ID: id, Alert: &a, ReplyTo: r}
	}, &ok, deadline)
	if err == nil && !ok.OK {
		err = errors.New("mqtt: alerts/set: device did not confirm")
	}
	return err
}

// DeleteAlert removes a standing alert from a device.
func DeleteAlert(ctx context.Context, opts ConnOptions, device, name string, deadline time.Duration) error {
	var ok OKReply
	return call(ctx, opts, device, topicAlertDelete, func(id, r string) any {
		return alertDeleteRequest{ID: id, Name: name, ReplyTo: r}
	}, &ok, deadline)
}

// ListAlerts returns a device's standing alerts.
func ListAlerts(ctx context.Context, opts ConnOptions, device string, deadline time.Duration) ([]AlertSpec, error) {
	var rep AlertsReply
	err := call(ctx, opts, device, topicAlertList, func(id, r string) any {
		return alertListRequest{ID: id, ReplyTo: r}
	}, &rep, deadline)
	return rep.Alerts, err
}
