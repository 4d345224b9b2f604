package camera

import (
	"context"
	"sync"
)

// Queue hands the newest frames from capture to the encoder. It holds at
// most its capacity; a push onto a full queue drops the oldest frame, so the
// encoder always works on what the camera sees now. Buffers are recycled.
type Queue struct {
	mu      sync.Mutex
	frames  []*Frame // oldest first
	free    []*Frame
	cap     int
	dropped uint64
	notify  chan struct{}
	closed  bool
	// lossless makes Push wait for room instead of dropping: for files and
	// synthetic sources read faster than real time, where every frame counts.
	lossless bool
	space    chan struct{}
}

// SetLossless switches the queue between drop-oldest (live cameras, the
// default) and back-pressure (offline sources).
func (q *Queue) SetLossless(on bool) {
	q.mu.Lock()
	q.lossless = on
	q.mu.Unlock()
}

// NewQueue makes a queue of the given capacity (default 2).
func NewQueue(capacity int) *Queue {
	if capacity <= 0 {
		capacity = 2
	}
	return &Queue{cap: capacity, notify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// Push copies f into the queue.
func (q *Queue) Push(f *Frame) {
	q.mu.Lock()
	for q.lossless && len(q.frames) == q.cap && !q.closed {
		q.mu.Unlock()
		<-q.space
		q.mu.Lock()
	}
	if q.closed {
		q.mu.Unlock()
		return
	}
	var slot *Frame
	if len(q.frames) == q.cap {
		slot = q.frames[0]
		copy(q.frames, q.frames[1:])
		q.frames = q.frames[:len(q.frames)-1]
		q.dropped++
	} else if n := len(q.free); n > 0 {
		slot, q.free = q.free[n-1], q.free[:n-1]
	} else {
		slot = new(Frame)
	}
	slot.CopyFrom(f)
	q.frames = append(q.frames, slot)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Pop waits for the oldest queued frame and copies it into dst. It returns
// false when ctx ends or the queue is closed and empty.
func (q *Queue) Pop(ctx context.Context, dst *Frame) bool {
	for {
		q.mu.Lock()
		if len(q.frames) > 0 {
			f := q.frames[0]
			copy(q.frames, q.frames[1:])
			q.frames = q.frames[:len(q.frames)-1]
			dst.CopyFrom(f)
			q.free = append(q.free, f)
			q.mu.Unlock()
			select {
			case q.space <- struct{}{}:
			default:
			}
			return true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-q.notify:
		}
	}
}

// Close wakes waiting readers; queued frames can still be popped.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.space <- struct{}{}:
	default:
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Dropped counts frames pushed out unread.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
