package models

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"testing"
)

// BenchmarkOpen opens a ViT-B/32-sized F32 file (about 605 MB, random
// weights, written once into a temp dir) with and without the hash check,
// from a warm page cache. rss-MB is how much the process's resident set grows
// while the file is open: the header pages only without the check, the whole
// (shared, reclaimable) file with it.
//
//	go test -run x -bench Open -benchtime 5x ./models/
func BenchmarkOpen(b *testing.B) {
	p := filepath.Join(b.TempDir(), "vitb32.safetensors")
	c := RandomContents(ViTB32(), 1)
	if err := Write(p, c); err != nil {
		b.Fatal(err)
	}
	c = nil
	goruntime.GC()
	for _, bc := range []struct {
		name string
		o    OpenOptions
	}{{"hash", OpenOptions{}}, {"nohash", OpenOptions{SkipHashCheck: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			var grow float64
			for b.Loop() {
				before := rssKB(b)
				f, err := OpenWith(p, bc.o)
				if err != nil {
					b.Fatal(err)
				}
				grow += float64(rssKB(b) - before)
				f.Close()
			}
			b.ReportMetric(grow/1024/float64(b.N), "rss-MB")
			fi, _ := os.Stat(p)
			b.SetBytes(fi.Size())
		})
	}
}

// rssKB reads VmRSS from /proc (Linux); elsewhere it reports 0.
func rssKB(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("VmRSS:")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return n
		}
	}
	return 0
}
