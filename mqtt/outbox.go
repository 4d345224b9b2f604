package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// message is one publish that must reach the broker.
type message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// ErrOutboxFull is returned when a message cannot be kept for later delivery
// because the outbox is at its size limit; the message is dropped.
var ErrOutboxFull = errors.New("mqtt: outbox full")

// outbox keeps messages that could not be sent, in order, until the broker
// acknowledges them. With a directory each message is one fsync'd file named
// by a sequence number (never by anything in the payload), written via a
// temporary file and rename so a crash leaves either the whole message or
// nothing. Without a directory it is a bounded in-memory queue.
type outbox struct {
	dir      string
	maxMsgs  int
	maxBytes int64

	mu    sync.Mutex
	items []outboxItem
	bytes int64
	next  uint64
}

type outboxItem struct {
	seq uint64
	msg message
}

const (
	outboxMagic = "EBX1"
	outboxExt   = ".msg"
)

// openOutbox loads the messages left in dir by an earlier process. Files that
// fail their checksum are moved aside (".bad") rather than delivered.
func openOutbox(dir string, maxMsgs int, maxBytes int64) (*outbox, error) {
	o := &outbox{dir: dir, maxMsgs: maxMsgs, maxBytes: maxBytes, next: 1}
	if dir == "" {
		return o, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mqtt: outbox %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mqtt: outbox %s: %w", dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(dir, name)) // an append cut short by a crash
		case strings.HasSuffix(name, outboxExt):
			if seq, err := strconv.ParseUint(strings.TrimSuffix(name, outboxExt), 10, 64); err == nil {
				seqs = append(seqs, seq)
			}
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		path := o.path(seq)
		m, err := readOutboxFile(path, maxBytes)
		if err != nil {
			os.Rename(path, path+".bad")
			continue
		}
		o.items = append(o.items, outboxItem{seq, m})
		o.bytes += int64(len(m.Payload) + len(m.Topic))
		o.next = seq + 1
	}
	return o, nil
}

func (o *outbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d%s", seq, outboxExt))
}

func readOutboxFile(path string, maxBytes int64) (message, error) {
	st, err := os.Stat(path)
	if err != nil {
		return message{}, err
	}
	if st.Size() > maxBytes+1024 {
		return message{}, fmt.Errorf("mqtt: outbox %s: %d bytes is over the limit", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return message{}, err
	}
	return decodeOutboxRecord(b)
}

func encodeOutboxRecord(m message) []byte {
	b := make([]byte, 0, 11+len(m.Topic)+len(m.Payload))
	b = append(b, outboxMagic...)
	b = append(b, 0, 0, 0, 0) // crc, filled below
	flags := m.QoS << 1
	if m.Retained {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
	b = append(b, m.Topic...)
	b = append(b, m.Payload...)
	binary.BigEndian.PutUint32(b[4:8], crc32.ChecksumIEEE(b[8:]))
	return b
}

func decodeOutboxRecord(b []byte) (message, error) {
	if len(b) < 11 || string(b[:4]) != outboxMagic {
		return message{}, errors.New("mqtt: outbox record: bad header")
	}
	if crc32.ChecksumIEEE(b[8:]) != binary.BigEndian.Uint32(b[4:8]) {
		return message{}, errors.New("mqtt: outbox record: checksum mismatch")
	}
	flags := b[8]
	n := int(binary.BigEndian.Uint16(b[9:11]))
	if 11+n > len(b) {
		return message{}, errors.New("mqtt: outbox record: topic runs past the end")
	}
	return message{
		Topic:    string(b[11 : 11+n]),
		Payload:  append([]byte(nil), b[11+n:]...),
		QoS:      (flags >> 1) & 3,
		Retained: flags&1 != 0,
	}, nil
}

// Append adds m at the tail, durably when the outbox has a directory.
func (o *outbox) Append(m message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	size := int64(len(m.Payload) + len(m.Topic))
	if len(o.items) >= o.maxMsgs || o.bytes+size > o.maxBytes {
		return ErrOutboxFull
	}
	seq := o.next
	if o.dir != "" {
		if err := o.writeFile(seq, m); err != nil {
			return err
		}
	}
	o.next++
	o.items = append(o.items, outboxItem{seq, m})
	o.bytes += size
	return nil
}

func (o *outbox) writeFile(seq uint64, m message) error {
	final := o.path(seq)
	tmp := strings.TrimSuffix(final, outboxExt) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mqtt: outbox %s: %w", o.dir, err)
	}
	_, err = f.Write(encodeOutboxRecord(m))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(o.dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mqtt: outbox %s: message %d: %w", o.dir, seq, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Peek returns the oldest message without removing it.
func (o *outbox) Peek() (message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		return message{}, false
	}
	return o.items[0].msg, true
}

// Pop removes the oldest message once the broker has acknowledged it.
func (o *outbox) Pop() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		return nil
	}
	it := o.items[0]
	o.items[0] = outboxItem{}
	o.items = o.items[1:]
	o.bytes -= int64(len(it.msg.Payload) + len(it.msg.Topic))
	if o.dir != "" {
		if err := os.Remove(o.path(it.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mqtt: outbox %s: message %d: %w", o.dir, it.seq, err)
		}
	}
	return nil
}

// Len is the number of messages waiting.
func (o *outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}
