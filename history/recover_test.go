package history

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// buildStore writes n deterministic records into dir and returns the
// segments' paths and each record's (segment index, frame offset).
func buildStore(t *testing.T, dir string, n int, segBytes int64) (paths []string, where map[uint64][2]int) {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		mustAppend(t, s, testRecord(seq, "a", 8, 120))
	}
	where = map[uint64][2]int{}
	for i, g := range s.segs {
		paths = append(paths, g.path)
		for j, seq := range g.seqs {
			where[seq] = [2]int{i, int(g.offs[j])}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return paths, where
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "*.seg"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// checkServed verifies that exactly want are served, each byte for byte.
func checkServed(t *testing.T, s *Store, want []uint64) {
	t.Helper()
	if got := allSeqs(t, s, "sha256:a"); !slices.Equal(got, want) {
		t.Fatalf("served seqs %v, want %v", got, want)
	}
	for _, seq := range want {
		r, err := s.Get(seq)
		if err != nil {
			t.Fatal(err)
		}
		checkRecord(t, r, testRecord(seq, "a", 8, 120))
	}
}

func seqRange(lo, hi uint64) []uint64 {
	var s []uint64
	for q := lo; q <= hi; q++ {
		s = append(s, q)
	}
	return s
}

// Cutting the last segment at every byte of its last record (a torn write)
// keeps every earlier record, truncates exactly the torn bytes, and the next
// Append reuses the lost sequence number.
func TestTornTail(t *testing.T) {
	const n = 40
	src := t.TempDir()
	paths, where := buildStore(t, src, n, 4<<10)
	if len(paths) < 2 {
		t.Fatalf("want several segments, got %d", len(paths))
	}
	lastPath := paths[len(paths)-1]
	full, err := os.ReadFile(lastPath)
	if err != nil {
		t.Fatal(err)
	}
	lastOff := where[n][1]
	for cut := lastOff; cut < len(full); cut++ {
		dir := copyDir(t, src)
		p := filepath.Join(dir, filepath.Base(lastPath))
		if err := os.Truncate(p, int64(cut)); err != nil {
			t.Fatal(err)
		}
		s, err := Open(context.Background(), Options{Dir: dir, SegmentBytes: 4 << 10})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		rep := s.Recovery()
		if rep.Records != n-1 || rep.TruncatedBytes != int64(cut-lastOff) || rep.CorruptRegions != 0 {
			t.Fatalf("cut at %d: report %+v, want %d records and %d truncated", cut, rep, n-1, cut-lastOff)
		}
		if fi, _ := os.Stat(p); fi.Size() != int64(lastOff) {
			t.Fatalf("cut at %d: file is %d bytes after recovery, want %d", cut, fi.Size(), lastOff)
		}
		if cut == lastOff+frameHdrLen+7 { // check the full content once in a while
			checkServed(t, s, seqRange(1, n-1))
		}
		if seq := mustAppend(t, s, testRecord(n, "a", 8, 120)); seq != n {
			t.Fatalf("cut at %d: next seq %d, want %d", cut, seq, n)
		}
		s.Close()
	}
	// A last segment torn inside its header (a crash while rolling).
	for cut := range headerLen {
		dir := copyDir(t, src)
		os.Truncate(filepath.Join(dir, filepath.Base(lastPath)), int64(cut))
		s := openStore(t, Options{Dir: dir, SegmentBytes: 4 << 10})
		want := seqRange(1, uint64(n-countIn(where, len(paths)-1)))
		checkServed(t, s, want)
		if seq := mustAppend(t, s, testRecord(uint64(len(want)+1), "a", 8, 120)); seq != uint64(len(want)+1) {
			t.Fatalf("header cut at %d: next seq %d", cut, seq)
		}
		s.Close()
	}
}

func countIn(where map[uint64][2]int, seg int) int {
	n := 0
	for _, w := range where {
		if w[0] == seg {
			n++
		}
	}
	return n
}

// A flipped bit anywhere in a record makes recovery skip exactly that
// record; it is never served, and the records after it still are.
func TestFlippedBit(t *testing.T) {
	const n = 40
	src := t.TempDir()
	paths, where := buildStore(t, src, n, 4<<10)
	lastSeg := len(paths) - 1
	firstInLast := uint64(n)
	for seq, w := range where {
		if w[0] == lastSeg {
			firstInLast = min(firstInLast, seq)
		}
	}
	frameEnd := func(seq uint64) int { // offset of the next frame
		if w, ok := where[seq+1]; ok && w[0] == where[seq][0] {
			return w[1]
		}
		fi, _ := os.Stat(paths[where[seq][0]])
		return int(fi.Size())
	}
	cases := []struct {
		name string
		seq  uint64
		at   func(off, end int) int
	}{
		{"old segment marker", 3, func(off, _ int) int { return off }},
		{"old segment length", 3, func(off, _ int) int { return off + 5 }},
		{"old segment crc", 4, func(off, _ int) int { return off + 9 }},
		{"old segment seq", 5, func(off, _ int) int { return off + frameHdrLen }},
		{"old segment embedding", 6, func(off, _ int) int { return off + frameHdrLen + 40 }},
		{"old segment thumb", 7, func(_, end int) int { return end - 1 }},
		{"last segment length", firstInLast + 1, func(off, _ int) int { return off + 6 }},
		{"last segment embedding", firstInLast + 1, func(off, _ int) int { return off + frameHdrLen + 50 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.seq >= n {
				t.Fatalf("case needs a record in the middle, seq %d", c.seq)
			}
			dir := copyDir(t, src)
			w := where[c.seq]
			p := filepath.Join(dir, filepath.Base(paths[w[0]]))
			b, _ := os.ReadFile(p)
			at := c.at(w[1], frameEnd(c.seq))
			b[at] ^= 0x10
			os.WriteFile(p, b, 0o644)
			s := openStore(t, Options{Dir: dir, SegmentBytes: 4 << 10})
			rep := s.Recovery()
			if rep.CorruptRegions != 1 || rep.SkippedRecords != 1 || rep.Records != n-1 || rep.TruncatedBytes != 0 {
				t.Errorf("report %+v, want 1 region, 1 skipped, %d records", rep, n-1)
			}
			want := slices.DeleteFunc(seqRange(1, n), func(q uint64) bool { return q == c.seq })
			checkServed(t, s, want)
			if _, err := s.Get(c.seq); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(corrupt %d) = %v, want ErrNotFound", c.seq, err)
			}
		})
	}
	for _, seg := range []int{0, lastSeg} {
		dir := copyDir(t, src)
		p := filepath.Join(dir, filepath.Base(paths[seg]))
		b, _ := os.ReadFile(p)
		b[3] ^= 1 // inside the magic
		os.WriteFile(p, b, 0o644)
		s := openStore(t, Options{Dir: dir, SegmentBytes: 4 << 10})
		if rep := s.Recovery(); rep.BadHeaders != 1 || rep.Records != n {
			t.Errorf("header of segment %d flipped: report %+v, want 1 bad header and all records", seg, rep)
		}
		checkServed(t, s, seqRange(1, n))
		s.Close()
		if seg == lastSeg { // the header was rewritten
			if rep := openStore(t, Options{Dir: dir, SegmentBytes: 4 << 10}).Recovery(); rep.BadHeaders != 0 {
				t.Errorf("after rewrite: %+v", rep)
			}
		}
	}
}

// FuzzRecover: arbitrary segment bytes never panic the segment scanner, and
// what it accepts is in bounds and in sequence order. (TestOpenDamagedSegments
// runs the whole Open over damaged files; fsyncs make it too slow to fuzz.)
func FuzzRecover(f *testing.F) {
	src := f.TempDir()
	s, err := Open(context.Background(), Options{Dir: src})
	if err != nil {
		f.Fatal(err)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		mustAppend(f, s, testRecord(seq, "a", 4, 20))
	}
	s.Close()
	seg, _ := os.ReadFile(filepath.Join(src, segName(1)))
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[:headerLen+frameHdrLen+5])
	f.Add([]byte{})
	f.Add(append(slices.Clone(seg[:headerLen]), markerBytes...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var prev uint64
		res := scanSegment(data, headerLen, 0, func(off int, r *rawRecord) {
			if off < headerLen || off >= len(data) || r.seq <= prev {
				t.Fatalf("frame at %d with seq %d after %d", off, r.seq, prev)
			}
			prev = r.seq
		})
		if res.end > max(len(data), headerLen) {
			t.Fatalf("end %d beyond %d bytes", res.end, len(data))
		}
		if res.end < len(data) && !res.tailBad && len(data) > headerLen {
			t.Fatalf("scan stopped at %d of %d bytes without flagging the tail", res.end, len(data))
		}
	})
}

// Open repairs any last segment, whatever its bytes, serves only records that
// verify, and can append afterwards.
func TestOpenDamagedSegments(t *testing.T) {
	src := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: src})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		mustAppend(t, s, testRecord(seq, "a", 4, 20))
	}
	s.Close()
	seg, _ := os.ReadFile(filepath.Join(src, segName(1)))
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 3000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	cases := []struct {
		name    string
		data    []byte
		records int
	}{
		{"empty file", nil, 0},
		{"noise", noise, 0},
		{"noise with markers", cat(seg[:headerLen], markerBytes, noise[:40], markerBytes, markerBytes), 0},
		{"valid", seg, 4},
		{"noise after records", cat(seg, noise), 4},
		{"records after noise", cat(seg[:headerLen], noise[:100], seg[headerLen:]), 4},
		{"records twice", cat(seg, seg[headerLen:]), 4},
		{"header only", seg[:headerLen], 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, segName(1)), c.data, 0o644)
			st := openStore(t, Options{Dir: dir})
			if got := st.Recovery().Records; got != c.records {
				t.Errorf("recovered %d records, want %d (report %+v)", got, c.records, st.Recovery())
			}
			seqs := allSeqs(t, st, "sha256:a")
			for _, seq := range seqs {
				r, err := st.Get(seq)
				if err != nil {
					t.Fatalf("served seq %d does not verify: %v", seq, err)
				}
				checkRecord(t, r, testRecord(seq, "a", 4, 20))
			}
			seq, err := st.Append(testRecord(0, "a", 4, 0))
			if err != nil || seq != uint64(c.records+1) {
				t.Errorf("Append after recovery: seq %d, %v; want %d", seq, err, c.records+1)
			}
		})
	}
}
