// Package history is edgeclip's crash-safe store of frame embeddings: an
// append-only log of checksummed records in segment files, fsynced on an
// interval by a goroutine the store owns, recovered at open (a torn tail is
// truncated, a corrupt record is skipped and never served), trimmed by age
// and by a hard byte budget one whole segment at a time, and mirrored in
// memory as compact int8 or f16 vectors per model for brute-force scoring.
//
// One goroutine appends; any number query. Records of different models are
// never mixed: every query names the model hash. See docs/history.md.
package history

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Errors callers can test with errors.Is.
var (
	ErrClosed   = errors.New("history: store is closed")
	ErrNotFound = errors.New("history: record not found")
	ErrLocked   = errors.New("history: directory is in use by another store")
	ErrInvalid  = errors.New("history: invalid record")
	ErrDim      = errors.New("history: embedding dimension does not match the model's")
	ErrTooLarge = errors.New("history: record larger than a segment")
	ErrBroken   = errors.New("history: store stopped after a write or fsync failure")
)

// Options configures a Store. Only Dir is required.
type Options struct {
	Dir string
	// FsyncInterval bounds what a power loss can take: records appended in
	// the last interval. Default 1s.
	FsyncInterval time.Duration
	// SegmentBytes is the size at which the active segment is closed and a
	// new one started. Default 64 MiB; at most MaxBytes/2 so that the budget
	// can always be met by dropping whole segments.
	SegmentBytes int64
	// SegmentSpan also closes the active segment once its first record is
	// this old, so that MaxAge can drop it. Default MaxAge/16; 0 with no MaxAge.
	SegmentSpan time.Duration
	// MaxAge drops a segment once its newest record is older. 0 keeps all.
	MaxAge time.Duration
	// MaxBytes is a hard budget for all segment files, thumbnails included.
	// 0 means no budget.
	MaxBytes int64
	// Compact is the in-memory form of the vectors. Default Int8.
	Compact Compact
	// Now is the clock for retention and unstamped records. Default time.Now.
	Now func() time.Time
}

// Record is one encoded frame.
type Record struct {
	Seq       uint64 // assigned by Append; increases across restarts
	Time      time.Time
	ModelHash string // 1–255 bytes; queries name it
	ModelName string // at most 255 bytes
	Embedding []float32
	Thumb     []byte // optional JPEG
}

// Store is an open history directory.
type Store struct {
	opts Options
	lock *os.File

	// Writer state, guarded by wmu.
	wmu     sync.Mutex
	act     *segment
	actF    *os.File
	actSize int64
	next    uint64
	written uint64
	retired []*os.File // rolled files the sync goroutine closes
	buf     []byte
	dims    map[string]int
	broken  error
	scratch []float32

	// Memory state, guarded by mu. Lock order: wmu, then mu.
	mu        sync.RWMutex
	segs      []*segment
	diskBytes int64
	closed    bool
	dropSegs  int64
	dropRecs  int64
	report    RecoveryReport

	synced    atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// segment is one file's in-memory index and its vectors per model.
type segment struct {
	base       uint64
	path       string
	size       int64
	seqs       []uint64 // ascending
	offs       []uint32 // frame offset of seqs[i]
	minT, maxT int64
	models     map[string]*slab

	rmu sync.Mutex // guards rf, opened lazily for Get
	rf  *os.File
}

func (g *segment) records() int { return len(g.seqs) }

func segName(base uint64) string { return fmt.Sprintf("%020d.seg", base) }

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("history: Options.Dir is empty")
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.MaxBytes > 0 && o.SegmentBytes > o.MaxBytes/2 {
		o.SegmentBytes = o.MaxBytes / 2
	}
	if o.SegmentBytes < 4<<10 || o.SegmentBytes > 1<<30 {
		return fmt.Errorf("history: segment size %d (from SegmentBytes/MaxBytes) outside 4 KiB..1 GiB", o.SegmentBytes)
	}
	if o.MaxAge < 0 || o.MaxBytes < 0 || o.SegmentSpan < 0 {
		return errors.New("history: negative MaxAge, MaxBytes or SegmentSpan")
	}
	if o.SegmentSpan == 0 && o.MaxAge > 0 {
		o.SegmentSpan = o.MaxAge / 16
	}
	if o.Compact != Int8 && o.Compact != F16 {
		return fmt.Errorf("history: unknown compact form %d", o.Compact)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Open recovers the store in opts.Dir (creating it if needed) and starts its
// fsync goroutine. What recovery did is in Recovery().
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	lock, err := lockDir(filepath.Join(opts.Dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("history: %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, lock: lock, dims: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.recover(ctx); err != nil {
		s.closeFiles()
		unlockDir(lock)
		return nil, err
	}
	go s.syncLoop()
	return s, nil
}

// Recovery reports what Open found and repaired.
func (s *Store) Recovery() RecoveryReport {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.report
}

// Append stores r under the next sequence number and returns it. A zero
// r.Time is stamped with the clock. The record reaches the OS before Append
// returns and the disk within FsyncInterval.
func (s *Store) Append(r Record) (uint64, error) {
	if err := validate(&r); err != nil {
		return 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.actF == nil {
		return 0, ErrClosed
	}
	if s.broken != nil {
		return 0, s.broken
	}
	if d, ok := s.dims[r.ModelHash]; ok && d != len(r.Embedding) {
		return 0, fmt.Errorf("%w: model %q has dim %d, record has %d", ErrDim, r.ModelHash, d, len(r.Embedding))
	}
	now := s.opts.Now()
	if r.Time.IsZero() {
		r.Time = now
	}
	seq := s.next
	s.buf = appendFrame(s.buf[:0], seq, r.Time.UnixNano(), &r)
	frame := int64(len(s.buf))
	if frame > s.opts.SegmentBytes-headerLen {
		return 0, fmt.Errorf("%w: %d bytes, segment %d", ErrTooLarge, frame, s.opts.SegmentBytes)
	}
	rolling := s.act.records() > 0 && (s.actSize+frame > s.opts.SegmentBytes ||
		s.opts.SegmentSpan > 0 && now.UnixNano()-s.act.minT > int64(s.opts.SegmentSpan))
	// Make room before creating anything, so the files never exceed the
	// budget, even for a moment a crash could freeze.
	if rolling {
		s.retain(now, frame+headerLen)
		if err := s.roll(seq); err != nil {
			return 0, err
		}
	}
	s.retain(now, frame) // after a roll, the closed segment may have expired
	off := s.actSize
	if _, err := s.actF.WriteAt(s.buf, off); err != nil {
		// Take the partial frame back so the next record follows a clean end.
		if terr := s.actF.Truncate(off); terr != nil {
			s.broken = fmt.Errorf("%w: %s: write: %v; truncate: %v", ErrBroken, s.act.path, err, terr)
		}
		return 0, fmt.Errorf("history: %s: append seq %d: %w", s.act.path, seq, err)
	}
	s.actSize += frame
	s.next++
	s.written = seq
	s.dims[r.ModelHash] = len(r.Embedding)

	s.mu.Lock()
	s.addToMemory(s.act, seq, r.Time.UnixNano(), uint32(off), r.ModelHash, r.ModelName, r.Embedding)
	s.act.size = s.actSize
	s.diskBytes += frame
	s.mu.Unlock()
	return seq, nil
}

func validate(r *Record) error {
	switch {
	case len(r.ModelHash) == 0 || len(r.ModelHash) > 255:
		return fmt.Errorf("%w: model hash of %d bytes, want 1..255", ErrInvalid, len(r.ModelHash))
	case len(r.ModelName) > 255:
		return fmt.Errorf("%w: model name of %d bytes, want at most 255", ErrInvalid, len(r.ModelName))
	case len(r.Embedding) == 0 || len(r.Embedding) > maxDim:
		return fmt.Errorf("%w: embedding dim %d, want 1..%d", ErrInvalid, len(r.Embedding), maxDim)
	case len(r.Thumb) > maxThumb:
		return fmt.Errorf("%w: thumbnail of %d bytes, want at most %d", ErrInvalid, len(r.Thumb), maxThumb)
	}
	for i, v := range r.Embedding {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: embedding[%d] = %v", ErrInvalid, i, v)
		}
	}
	return nil
}

// addToMemory indexes a record and adds its compact vector; mu is held.
func (s *Store) addToMemory(g *segment, seq uint64, t int64, off uint32, hash, name string, emb []float32) {
	if len(g.seqs) == 0 || t < g.minT {
		g.minT = t
	}
	if len(g.seqs) == 0 || t > g.maxT {
		g.maxT = t
	}
	g.seqs = append(g.seqs, seq)
	g.offs = append(g.offs, off)
	sl := g.models[hash]
	if sl == nil {
		sl = &slab{hash: hash, name: name, dim: len(emb)}
		g.models[hash] = sl
	}
	sl.add(s.opts.Compact, seq, t, emb)
}

// roll closes the active segment (fsynced) and starts one based at next.
func (s *Store) roll(next uint64) error {
	if err := s.actF.Sync(); err != nil {
		s.broken = fmt.Errorf("%w: %s: fsync: %v", ErrBroken, s.act.path, err)
		return s.broken
	}
	s.synced.Store(s.written)
	s.retired = append(s.retired, s.actF)
	s.actF = nil
	s.mu.Lock()
	for _, sl := range s.act.models {
		sl.clip()
	}
	s.mu.Unlock()
	g, f, err := s.createSegment(next)
	if err != nil {
		s.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return s.broken
	}
	s.mu.Lock()
	s.segs = append(s.segs, g)
	s.diskBytes += headerLen
	s.mu.Unlock()
	s.act, s.actF, s.actSize = g, f, headerLen
	return nil
}

// createSegment writes a new segment's header and makes the file durable.
func (s *Store) createSegment(base uint64) (*segment, *os.File, error) {
	path := filepath.Join(s.opts.Dir, segName(base))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("history: create segment: %w", err)
	}
	var h [headerLen]byte
	putHeader(h[:], base)
	if _, err := f.WriteAt(h[:], 0); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(s.opts.Dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("history: %s: %w", path, err)
	}
	return &segment{base: base, path: path, size: headerLen, models: map[string]*slab{}}, f, nil
}

// retain drops whole oldest segments, never the active one, while the oldest
// has expired or the budget cannot take incoming more bytes. wmu is held.
func (s *Store) retain(now time.Time, incoming int64) {
	var gone []*segment
	s.mu.Lock()
	for len(s.segs) > 1 {
		g := s.segs[0]
		expired := s.opts.MaxAge > 0 && (g.records() == 0 || g.maxT < now.Add(-s.opts.MaxAge).UnixNano())
		over := s.opts.MaxBytes > 0 && s.diskBytes+incoming > s.opts.MaxBytes
		if !expired && !over {
			break
		}
		s.segs[0] = nil
		s.segs = s.segs[1:]
		s.diskBytes -= g.size
		s.dropSegs++
		s.dropRecs += int64(g.records())
		g.closeReader()
		gone = append(gone, g)
	}
	s.mu.Unlock()
	for _, g := range gone {
		// A failed remove leaves a file the next Open drops again.
		os.Remove(g.path)
	}
}

func (g *segment) closeReader() {
	g.rmu.Lock()
	if g.rf != nil {
		g.rf.Close()
		g.rf = nil
	}
	g.rmu.Unlock()
}

// syncLoop is the store's fsync goroutine; Close stops it.
func (s *Store) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.syncOnce()
			s.wmu.Lock()
			if s.actF != nil && s.opts.MaxAge > 0 {
				s.retain(s.opts.Now(), 0)
			}
			s.wmu.Unlock()
		}
	}
}

// syncOnce fsyncs the active file without holding the writer lock, so
// Append only waits for the short snapshot.
func (s *Store) syncOnce() {
	s.wmu.Lock()
	f, w, retired := s.actF, s.written, s.retired
	s.retired = nil
	s.wmu.Unlock()
	for _, r := range retired {
		r.Close() // already fsynced by roll
	}
	if f == nil || w <= s.synced.Load() {
		return
	}
	if err := f.Sync(); err != nil {
		s.wmu.Lock()
		if s.broken == nil {
			s.broken = fmt.Errorf("%w: fsync: %v", ErrBroken, err)
		}
		s.wmu.Unlock()
		return
	}
	s.synced.Store(w)
}

// Close stops the fsync goroutine, fsyncs and closes every file. Queries
// after Close return ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.wmu.Lock()
		if s.actF != nil {
			if err := s.actF.Sync(); err != nil {
				s.closeErr = fmt.Errorf("history: %s: fsync: %w", s.act.path, err)
			} else {
				s.synced.Store(s.written)
			}
		}
		s.closeFiles()
		s.wmu.Unlock()
		if err := unlockDir(s.lock); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("history: unlock: %w", err)
		}
	})
	return s.closeErr
}

// closeFiles closes every handle and releases memory; wmu is held or the
// store is not yet shared.
func (s *Store) closeFiles() {
	if s.actF != nil {
		if err := s.actF.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("history: %s: %w", s.act.path, err)
		}
		s.actF = nil
	}
	for _, r := range s.retired {
		r.Close()
	}
	s.retired = nil
	s.mu.Lock()
	for _, g := range s.segs {
		g.closeReader()
	}
	s.segs = nil
	s.closed = true
	s.mu.Unlock()
}
