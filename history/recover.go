package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RecoveryReport says what Open found and repaired.
type RecoveryReport struct {
	Segments int // segment files scanned
	Records  int // good records loaded
	// CorruptRegions counts damaged byte ranges skipped inside segments
	// (bad checksum, bad structure, or a record inconsistent with its model).
	CorruptRegions int
	// SkippedRecords counts sequence numbers missing between good records:
	// records lost to corruption. Their bytes are never served.
	SkippedRecords int
	// BadHeaders counts segment headers that failed their checks; the last
	// segment's header is rewritten, older segments are still scanned.
	BadHeaders int
	// TruncatedBytes were cut from the end of the last segment: a record torn
	// by a crash, or garbage after the last good record.
	TruncatedBytes int64
	Duration       time.Duration
}

// listSegments returns the segment files in dir in sequence order.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []uint64
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutSuffix(name, ".seg")
		if !ok || len(num) != 20 || !e.Type().IsRegular() {
			continue
		}
		b, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// recover loads every segment, repairs the last one and opens it for append.
func (s *Store) recover(ctx context.Context) error {
	start := time.Now()
	bases, err := listSegments(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("history: %s: %w", s.opts.Dir, err)
	}
	var rep RecoveryReport
	var last uint64 // last good seq so far
	var emb []float32
	for i, base := range bases {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("history: recovery: %w", err)
		}
		path := filepath.Join(s.opts.Dir, segName(base))
		isLast := i == len(bases)-1
		data, err := readSegment(path)
		if err != nil {
			return err
		}
		rep.Segments++
		if hb, err := parseHeader(data); err != nil || hb != base {
			rep.BadHeaders++
			if isLast {
				if data, err = rewriteHeader(path, data, base); err != nil {
					return err
				}
			}
		}
		after := last
		if base > 0 && base-1 > after {
			after = base - 1
		}
		g := &segment{base: base, path: path, models: map[string]*slab{}}
		res := scanSegment(data, headerLen, after, func(off int, r *rawRecord) {
			hash := string(r.hash)
			if d, ok := s.dims[hash]; ok && d != r.dim() {
				rep.CorruptRegions++ // a checksummed record that contradicts its model
				return
			}
			s.dims[hash] = r.dim()
			if last > 0 && r.seq > last+1 {
				rep.SkippedRecords += int(r.seq - last - 1)
			}
			last = r.seq
			emb = slices.Grow(emb[:0], r.dim())[:r.dim()]
			r.decodeEmbedding(emb)
			s.addToMemory(g, r.seq, r.unixNano, uint32(off), hash, string(r.name), emb)
			rep.Records++
		})
		rep.CorruptRegions += res.regions
		g.size = int64(len(data))
		if res.tailBad && !isLast {
			rep.CorruptRegions++
		}
		if isLast && res.end < len(data) {
			if err := truncateTail(path, int64(res.end)); err != nil {
				return err
			}
			rep.TruncatedBytes += int64(len(data) - res.end)
			g.size = int64(res.end)
		}
		for _, sl := range g.models {
			sl.clip()
		}
		s.segs = append(s.segs, g)
		s.diskBytes += g.size
		if base > s.next {
			s.next = base
		}
	}
	s.next = max(s.next, last+1, 1)
	s.written = last
	s.synced.Store(last)
	rep.Duration = time.Since(start)
	s.report = rep
	s.retain(s.opts.Now(), 0)

	if n := len(s.segs); n > 0 && s.segs[n-1].size < s.opts.SegmentBytes {
		g := s.segs[n-1]
		f, err := os.OpenFile(g.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		// A killed writer's last records may still be only in the page
		// cache; make them durable before SyncedSeq claims them.
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("history: %s: fsync: %w", g.path, err)
		}
		s.act, s.actF, s.actSize = g, f, g.size
		return nil
	}
	g, f, err := s.createSegment(s.next)
	if err != nil {
		return err
	}
	s.segs = append(s.segs, g)
	s.diskBytes += headerLen
	s.act, s.actF, s.actSize = g, f, headerLen
	return nil
}

// readSegment reads a whole segment file, refusing absurd sizes before
// allocating.
func readSegment(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if fi.Size() > 2<<30 {
		return nil, fmt.Errorf("history: %s: %d bytes is larger than any segment this store writes", path, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return data, nil
}

// rewriteHeader replaces a damaged header of the last segment in place (the
// records after it are still scanned) or recreates a file too short to hold one.
func rewriteHeader(path string, data []byte, base uint64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	var h [headerLen]byte
	putHeader(h[:], base)
	if len(data) < headerLen {
		data = make([]byte, headerLen)
		err = f.Truncate(0)
	}
	copy(data, h[:])
	if err == nil {
		_, err = f.WriteAt(h[:], 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("history: %s: rewrite header: %w", path, err)
	}
	return data, nil
}

func truncateTail(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("history: %s: truncate torn tail at %d: %w", path, size, err)
	}
	return nil
}

// syncDir makes created and removed directory entries durable.
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
