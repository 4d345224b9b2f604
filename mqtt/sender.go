package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// enqueue hands a QoS 1 message to the sender, which keeps the order. After
// Close it goes straight to the outbox.
func (c *Client) enqueue(ctx context.Context, m message) error {
	select {
	case c.sendq <- m:
		return nil
	case <-c.ctx.Done():
		return c.keep(m)
	case <-ctx.Done():
		return fmt.Errorf("mqtt: %s: queueing: %w", m.Topic, ctx.Err())
	}
}

// keep puts m in the outbox; a full outbox drops it, loudly.
func (c *Client) keep(m message) error {
	if err := c.outbox.Append(m); err != nil {
		c.n.outboxDropped.Add(1)
		c.log.Error("mqtt: message lost", "topic", m.Topic, "err", err)
		return err
	}
	c.n.outboxAppended.Add(1)
	return nil
}

// sender is the one goroutine that publishes QoS 1 replies and events. It
// sends one message at a time and waits for the broker's PUBACK, so order is
// kept. Whatever cannot be sent goes to the outbox, and while the outbox is
// not empty new messages queue behind it; after a reconnect the outbox is
// drained first. A message whose PUBACK was lost with the connection is sent
// again: receivers may see it twice, never zero times.
func (c *Client) sender() {
	defer c.flushQueue()
	for {
		if c.outbox.Len() > 0 {
			up, lost := c.connState()
			select {
			case <-c.ctx.Done():
				return
			case m := <-c.sendq:
				c.keep(m)
				continue
			case <-up:
			}
			if up, lost = c.connState(); !isClosed(up) {
				continue // lost again already
			}
			m, _ := c.outbox.Peek()
			if c.publishWait(m, lost) {
				if err := c.outbox.Pop(); err != nil {
					c.log.Error("mqtt: outbox", "err", err) // may be sent again after a restart
				}
				continue
			}
			select { // do not spin while the connection settles
			case <-c.ctx.Done():
				return
			case <-lost:
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.sendq:
			up, lost := c.connState()
			select {
			case <-up:
				if c.publishWait(m, lost) {
					continue
				}
			default:
			}
			c.keep(m)
		}
	}
}

// flushQueue moves what is still queued to the outbox at Close.
func (c *Client) flushQueue() {
	for {
		select {
		case m := <-c.sendq:
			c.keep(m)
		default:
			return
		}
	}
}

// connState returns the channels of the current connection: up is closed
// while connected, lost when that connection ends.
func (c *Client) connState() (up, lost <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.lost
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

var errPublishAbandoned = errors.New("connection lost before PUBACK")

// publishWait publishes m and reports whether the broker acknowledged it
// before the connection was lost, the timeout or Close.
func (c *Client) publishWait(m message, lost <-chan struct{}) bool {
	tok := c.pc.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
	timer := time.NewTimer(c.opts.PublishTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-tok.Done():
		err = tok.Error()
	case <-lost:
		err = errPublishAbandoned
	case <-timer.C:
		err = errors.New("timed out waiting for PUBACK")
	case <-c.ctx.Done():
		err = c.ctx.Err()
	}
	if err != nil {
		c.log.Debug("mqtt: publish not acknowledged", "topic", m.Topic, "err", err)
		return false
	}
	c.n.sent.Add(1)
	return true
}
