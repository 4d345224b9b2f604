package history

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"
)

// Scored is one record's score against a query.
type Scored struct {
	Seq   uint64
	Time  time.Time
	Score float32
}

// Entry identifies a record during Scan.
type Entry struct {
	Seq  uint64
	Time time.Time
}

// window converts [since, until) to unix nanos; zero times are open ends.
func window(since, until time.Time) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !since.IsZero() {
		lo = since.UnixNano()
	}
	if !until.IsZero() {
		hi = until.UnixNano()
	}
	return lo, hi
}

// Score appends to dst[:0] the dot product of query with every record of
// modelHash whose time is in [since, until) (zero times leave that end
// open), oldest segment first, and returns it. The vectors are the compact
// ones, so with unit-norm inputs the scores are cosines to within about 1e-3.
// Scoring allocates nothing once dst is large enough.
func (s *Store) Score(query []float32, modelHash string, since, until time.Time, dst []Scored) ([]Scored, error) {
	dst = dst[:0]
	lo, hi := window(since, until)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return dst, ErrClosed
	}
	var tab *[1 << 16]float32
	if s.opts.Compact == F16 {
		tab = f16Table()
	}
	for _, g := range s.segs {
		sl := g.models[modelHash]
		if sl == nil || g.maxT < lo || g.minT >= hi {
			continue
		}
		if sl.dim != len(query) {
			return dst, fmt.Errorf("%w: model %q has dim %d, query has %d", ErrDim, modelHash, sl.dim, len(query))
		}
		d := sl.dim
		for i, t := range sl.times {
			if t < lo || t >= hi {
				continue
			}
			var sc float32
			if tab != nil {
				sc = dotF16(query, sl.halves[i*d:(i+1)*d], tab)
			} else {
				sc = dotI8(query, sl.codes[i*d:(i+1)*d]) * sl.scales[i]
			}
			dst = append(dst, Scored{Seq: sl.seqs[i], Time: time.Unix(0, t), Score: sc})
		}
	}
	return dst, nil
}

// Scan calls fn for each record of modelHash in [since, until), oldest
// first, with its vector decoded from the compact form into a buffer that is
// reused between calls. fn returns false to stop. fn runs under the store's
// read lock: it must not call any Store method (collect, then call).
func (s *Store) Scan(modelHash string, since, until time.Time, fn func(e Entry, vec []float32) bool) error {
	lo, hi := window(since, until)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var buf []float32
	for _, g := range s.segs {
		sl := g.models[modelHash]
		if sl == nil || g.maxT < lo || g.minT >= hi {
			continue
		}
		if len(buf) != sl.dim {
			buf = make([]float32, sl.dim)
		}
		for i, t := range sl.times {
			if t < lo || t >= hi {
				continue
			}
			sl.vector(s.opts.Compact, i, buf)
			if !fn(Entry{Seq: sl.seqs[i], Time: time.Unix(0, t)}, buf) {
				return nil
			}
		}
	}
	return nil
}

// Get reads record seq from disk, checksum verified, with its exact float32
// embedding and its thumbnail.
func (s *Store) Get(seq uint64) (Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	g, off, err := s.locate(seq)
	if err != nil {
		return Record{}, err
	}
	b, err := g.readFrame(off)
	if err != nil {
		return Record{}, err
	}
	r, n, ok := parseFrame(b, seq-1)
	if !ok || n != len(b) || r.seq != seq {
		return Record{}, fmt.Errorf("history: %s: record %d at offset %d no longer verifies", g.path, seq, off)
	}
	rec := Record{
		Seq: seq, Time: time.Unix(0, r.unixNano), ModelHash: string(r.hash), ModelName: string(r.name),
		Embedding: make([]float32, r.dim()),
	}
	r.decodeEmbedding(rec.Embedding)
	if len(r.thumb) > 0 {
		rec.Thumb = r.thumb // b is private to this call
	}
	return rec, nil
}

// Thumb returns record seq's thumbnail (nil if it has none), checksum verified.
func (s *Store) Thumb(seq uint64) ([]byte, error) {
	r, err := s.Get(seq)
	return r.Thumb, err
}

// Latest returns the newest record, read as by Get.
func (s *Store) Latest() (Record, error) {
	s.mu.RLock()
	var seq uint64
	for i := len(s.segs) - 1; i >= 0 && seq == 0; i-- {
		if n := len(s.segs[i].seqs); n > 0 {
			seq = s.segs[i].seqs[n-1]
		}
	}
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return Record{}, ErrClosed
	}
	if seq == 0 {
		return Record{}, fmt.Errorf("%w: store is empty", ErrNotFound)
	}
	return s.Get(seq)
}

// locate finds the segment and frame offset of seq; mu is held.
func (s *Store) locate(seq uint64) (*segment, uint32, error) {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > seq }) - 1
	// Bases are lower bounds; a record sits in the last segment whose base
	// is at most seq, unless that one lost it and an earlier one has it.
	for ; i >= 0; i-- {
		g := s.segs[i]
		if j, ok := slices.BinarySearch(g.seqs, seq); ok {
			return g, g.offs[j], nil
		}
		if len(g.seqs) > 0 && g.seqs[0] < seq {
			break
		}
	}
	return nil, 0, fmt.Errorf("%w: seq %d", ErrNotFound, seq)
}

// readFrame reads the whole frame at off through the segment's read handle.
func (g *segment) readFrame(off uint32) ([]byte, error) {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	if g.rf == nil {
		f, err := os.Open(g.path)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		g.rf = f
	}
	var h [frameHdrLen]byte
	if _, err := g.rf.ReadAt(h[:], int64(off)); err != nil {
		return nil, fmt.Errorf("history: %s: read frame at %d: %w", g.path, off, err)
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	if n > g.size-int64(off)-frameHdrLen || n > maxPayloadLen {
		return nil, fmt.Errorf("history: %s: frame at %d claims %d bytes", g.path, off, n)
	}
	b := make([]byte, frameHdrLen+n)
	if _, err := g.rf.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("history: %s: read frame at %d: %w", g.path, off, err)
	}
	return b, nil
}

// ModelStats describes one model's retained records.
type ModelStats struct {
	Hash, Name string
	Dim        int
	Records    int
}

// Stats is a snapshot of the store.
type Stats struct {
	Records         int
	Segments        int
	DiskBytes       int64 // all segment files
	MemBytes        int64 // compact vectors and indexes
	Oldest, Newest  time.Time
	FirstSeq        uint64
	LastSeq         uint64 // newest record appended (0 if none)
	SyncedSeq       uint64 // newest record known to be fsynced
	DroppedSegments int64  // by retention since Open
	DroppedRecords  int64
	Models          []ModelStats
	Recovery        RecoveryReport
}

// Stats returns a snapshot of counts and sizes.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{
		Segments: len(s.segs), DiskBytes: s.diskBytes, SyncedSeq: s.synced.Load(),
		DroppedSegments: s.dropSegs, DroppedRecords: s.dropRecs, Recovery: s.report,
	}
	var lo, hi int64 = math.MaxInt64, math.MinInt64
	models := map[string]int{}
	for _, g := range s.segs {
		n := g.records()
		if n == 0 {
			continue
		}
		if st.Records == 0 {
			st.FirstSeq = g.seqs[0]
		}
		st.Records += n
		st.LastSeq = g.seqs[n-1]
		lo, hi = min(lo, g.minT), max(hi, g.maxT)
		st.MemBytes += int64(cap(g.seqs)*8 + cap(g.offs)*4)
		for h, sl := range g.models {
			st.MemBytes += sl.bytes()
			i, ok := models[h]
			if !ok {
				i = len(st.Models)
				models[h] = i
				st.Models = append(st.Models, ModelStats{Hash: h, Name: sl.name, Dim: sl.dim})
			}
			st.Models[i].Records += sl.len()
		}
	}
	if st.Records > 0 {
		st.Oldest, st.Newest = time.Unix(0, lo), time.Unix(0, hi)
	}
	return st
}
