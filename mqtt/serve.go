package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// job is one received request waiting for a worker.
type job struct {
	kind    kind
	payload []byte
	at      time.Time
}

// rawPayload is a reply that is sent as is rather than as JSON (thumbnails).
type rawPayload []byte

// onMessage runs on paho's goroutine: it only hands the request to the pool,
// or answers busy when the pool is full. It never blocks.
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	if c.closed.Load() {
		return
	}
	if m.Topic() == c.t.status() {
		c.checkOwnStatus(m.Payload())
		return
	}
	c.n.requests.Add(1)
	j := job{kind: c.t.kindOf(m.Topic()), payload: m.Payload(), at: time.Now()}
	select {
	case c.work <- j:
		return
	default:
	}
	c.n.busy.Add(1)
	busy := &RequestError{Code: CodeBusy, Message: fmt.Sprintf("%d requests are waiting; retry later", c.opts.Workers+c.opts.QueueLen)}
	select {
	case c.busyq <- c.errorMessage(peekRouting(j.payload, c.opts.Limits.MaxPayload), busy):
	default:
		c.log.Warn("mqtt: flooded: dropping a busy reply", "topic", m.Topic())
	}
}

func (c *Client) worker() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case j := <-c.work:
			c.process(j)
		}
	}
}

// busyReplier sends busy replies off paho's goroutine.
func (c *Client) busyReplier() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.busyq:
			c.enqueue(c.ctx, m)
		}
	}
}

func (c *Client) process(j job) {
	lim := c.opts.Limits
	fail := func(err error) { c.enqueue(c.ctx, c.errorMessage(peekRouting(j.payload, lim.MaxPayload), err)) }
	switch j.kind {
	case kindQuery:
		q, err := DecodeQuery(j.payload, lim, time.Now())
		if err != nil {
			fail(err)
			return
		}
		c.serve(j.kind, q.ID, q.ReplyTo, "", func(ctx context.Context) (any, error) {
			rep, err := c.h.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			rep.ID, rep.Device = q.ID, c.opts.DeviceID
			rep.TookMS = float64(time.Since(j.at).Microseconds()) / 1000
			if rep.Frames == nil {
				rep.Frames = []Frame{}
			}
			if rep.Intervals == nil {
				rep.Intervals = []Interval{}
			}
			if !q.Thumbnails {
				for i := range rep.Frames {
					rep.Frames[i].Thumb = nil
				}
			}
			return rep, nil
		})
	case kindAlertSet:
		r, err := decodeAlertSet(j.payload, lim)
		if err != nil {
			fail(err)
			return
		}
		c.serve(j.kind, r.ID, r.ReplyTo, "", func(ctx context.Context) (any, error) {
			if err := c.h.SetAlert(ctx, *r.Alert); err != nil {
				return nil, err
			}
			if ha := c.opts.HomeAssistant; ha != nil {
				for _, m := range DiscoveryConfigs(*ha, c.opts.DeviceID, c.opts.Prefix, []AlertSpec{*r.Alert}, c.opts.Status.Version)[:1] {
					c.pc.Publish(m.Topic, 1, true, []byte(m.Payload))
				}
			}
			return OKReply{ID: r.ID, Device: c.opts.DeviceID, OK: true}, nil
		})
	case kindAlertDelete:
		r, err := decodeAlertDelete(j.payload, lim)
		if err != nil {
			fail(err)
			return
		}
		c.serve(j.kind, r.ID, r.ReplyTo, "", func(ctx context.Context) (any, error) {
			if err := c.h.DeleteAlert(ctx, r.Name); err != nil {
				return nil, err
			}
			c.setRetained(c.t.alertState(r.Name), nil) // clears the retained state
			if ha := c.opts.HomeAssistant; ha != nil {
				m := DiscoveryRemoval(*ha, c.opts.DeviceID, r.Name)
				c.pc.Publish(m.Topic, 1, true, []byte{})
			}
			return OKReply{ID: r.ID, Device: c.opts.DeviceID, OK: true}, nil
		})
	case kindAlertList:
		r, err := decodeAlertList(j.payload, lim)
		if err != nil {
			fail(err)
			return
		}
		c.serve(j.kind, r.ID, r.ReplyTo, "", func(ctx context.Context) (any, error) {
			alerts, err := c.h.ListAlerts(ctx)
			if alerts == nil {
				alerts = []AlertSpec{}
			}
			return AlertsReply{ID: r.ID, Device: c.opts.DeviceID, Alerts: alerts}, err
		})
	case kindThumb:
		r, err := decodeThumb(j.payload, lim)
		if err != nil {
			fail(err)
			return
		}
		c.serve(j.kind, r.ID, r.ReplyTo, c.t.thumb(r.Seq), func(ctx context.Context) (any, error) {
			jpeg, err := c.h.Thumbnail(ctx, r.Seq)
			return rawPayload(jpeg), err
		})
	default:
		fail(&RequestError{Code: CodeBadRequest, Message: "no request is served on this topic"})
	}
}

// serve runs fn once per request id, publishes its reply to replyTo, else
// defaultDest, else result/<id>, and remembers the reply for redeliveries.
func (c *Client) serve(k kind, id, replyTo, defaultDest string, fn func(context.Context) (any, error)) {
	if replyTo != "" && !c.t.replyAllowed(replyTo) {
		c.enqueue(c.ctx, c.errorMessage(routing{ID: id},
			badField("reply_to", "topics under %s/ must have a result or reply level", c.opts.Root)))
		return
	}
	dest := c.t.result(id)
	switch {
	case replyTo != "":
		dest = replyTo
	case defaultDest != "":
		dest = defaultDest
	}
	key := k.String() + "\x00" + id
	state, cached := c.dedup.begin(key)
	switch state {
	case dedupInProgress:
		c.n.redelivered.Add(1) // its reply is on the way
		return
	case dedupDone:
		c.n.redelivered.Add(1)
		c.enqueue(c.ctx, message{Topic: dest, Payload: cached, QoS: 1})
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandlerTimeout)
	c.n.handled.Add(1)
	v, err := fn(ctx)
	cancel()
	var payload []byte
	if err == nil {
		if raw, ok := v.(rawPayload); ok {
			payload = raw
		} else if payload, err = json.Marshal(v); err != nil {
			err = fmt.Errorf("encoding the reply: %w", err)
		}
	}
	if err != nil {
		if c.ctx.Err() != nil {
			c.dedup.forget(key) // shutting down: a redelivery may try again
			return
		}
		c.n.errorReplies.Add(1)
		payload = mustJSON(ErrorReply{ID: id, Device: c.opts.DeviceID, Error: errorBody(err)})
	}
	c.dedup.finish(key, payload)
	c.enqueue(c.ctx, message{Topic: dest, Payload: payload, QoS: 1})
}

// errorMessage addresses an error reply: reply_to when valid and allowed,
// else result/<id>, else the device's errors topic.
func (c *Client) errorMessage(r routing, err error) message {
	dest := c.t.errors()
	switch {
	case r.ReplyTo != "" && c.t.replyAllowed(r.ReplyTo):
		dest = r.ReplyTo
	case r.ID != "":
		dest = c.t.result(r.ID)
	}
	c.n.errorReplies.Add(1)
	return message{Topic: dest, Payload: mustJSON(ErrorReply{ID: r.ID, Device: c.opts.DeviceID, Error: errorBody(err)}), QoS: 1}
}

// publishDiscovery publishes Home Assistant discovery for all alerts.
func (c *Client) publishDiscovery() {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandlerTimeout)
	defer cancel()
	alerts, err := c.h.ListAlerts(ctx)
	if err != nil {
		c.log.Warn("mqtt: home assistant discovery: listing alerts", "err", err)
	}
	for _, m := range DiscoveryConfigs(*c.opts.HomeAssistant, c.opts.DeviceID, c.opts.Prefix, alerts, c.opts.Status.Version) {
		c.pc.Publish(m.Topic, 1, true, []byte(m.Payload))
	}
}
