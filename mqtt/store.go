package mqtt

import (
	"bytes"
	"sort"
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is paho's in-flight message store, keeping serialized copies.
// paho's MemoryStore hands back the very packet object that is being
// written: on a reconnect its resume sets the DUP flag on a publish while
// the network goroutine writes it (a data race the race detector reports
// whenever we publish from the on-connect handler). A copy per Get avoids
// sharing.
type copyStore struct {
	mu  sync.Mutex
	m   map[string]storedPacket
	seq uint64
}

type storedPacket struct {
	seq uint64 // insertion order: paho resends in the order All returns
	b   []byte
}

func newCopyStore() *copyStore { return &copyStore{m: make(map[string]storedPacket)} }

func (s *copyStore) Open() {}

func (s *copyStore) Put(key string, p packets.ControlPacket) {
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return // paho tolerates a store that cannot keep a packet
	}
	s.mu.Lock()
	s.seq++
	s.m[key] = storedPacket{s.seq, b.Bytes()}
	s.mu.Unlock()
}

func (s *copyStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	sp, ok := s.m[key]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	p, err := packets.ReadPacket(bytes.NewReader(sp.b))
	if err != nil {
		return nil
	}
	return p
}

func (s *copyStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.m[keys[i]].seq < s.m[keys[j]].seq })
	return keys
}

func (s *copyStore) Del(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *copyStore) Close() {}

func (s *copyStore) Reset() {
	s.mu.Lock()
	s.m = make(map[string]storedPacket)
	s.mu.Unlock()
}
