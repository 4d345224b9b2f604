package mqtt

import (
	"container/list"
	"sync"
)

// dedup remembers recent request ids so that a request the broker delivers
// twice (QoS 1 allows it) runs the Handler once; the cached reply is sent
// again instead. Bounded: the least recently used id is forgotten first.
type dedup struct {
	mu       sync.Mutex
	max      int
	maxBytes int // cached replies, all together
	bytes    int
	order    *list.List // front = most recent; values are *dedupEntry
	byKey    map[string]*list.Element
}

type dedupEntry struct {
	key   string
	done  bool
	reply []byte
}

type dedupState int

const (
	dedupNew        dedupState = iota // first time: run the handler, then finish
	dedupInProgress                   // already running: its reply will go out
	dedupDone                         // answered before: resend the cached reply
)

func newDedup(max, maxBytes int) *dedup {
	return &dedup{max: max, maxBytes: maxBytes, order: list.New(), byKey: make(map[string]*list.Element)}
}

// begin claims key. For dedupDone it also returns the cached reply.
func (d *dedup) begin(key string) (dedupState, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.byKey[key]; ok {
		d.order.MoveToFront(el)
		e := el.Value.(*dedupEntry)
		if e.done {
			return dedupDone, e.reply
		}
		return dedupInProgress, nil
	}
	d.byKey[key] = d.order.PushFront(&dedupEntry{key: key})
	d.evict()
	return dedupNew, nil
}

func (d *dedup) evict() {
	for d.order.Len() > 1 && (d.order.Len() > d.max || d.bytes > d.maxBytes) {
		d.remove(d.order.Back())
	}
}

func (d *dedup) remove(el *list.Element) {
	e := el.Value.(*dedupEntry)
	d.order.Remove(el)
	delete(d.byKey, e.key)
	d.bytes -= len(e.reply)
}

// finish stores the reply sent for key.
func (d *dedup) finish(key string, reply []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.byKey[key]; ok {
		e := el.Value.(*dedupEntry)
		e.done, e.reply = true, reply
		d.bytes += len(reply)
		d.evict()
	}
}

// forget drops key so a retry runs the handler again (used when a request
// could not be served at all).
func (d *dedup) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.byKey[key]; ok {
		d.remove(el)
	}
}
