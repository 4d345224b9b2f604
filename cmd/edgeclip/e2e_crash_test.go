package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/history"
)

// storedRe reads the record count from the daemon's status line.
var storedRe = regexp.MustCompile(`\| (\d+) frames stored \|`)

// crashArgs make the daemon write fast: 120 encoded frames a second, no
// gating, thumbnails on, an fsync every 10 ms, 1 MiB segments (so kills
// also land in segment rolls), a status line every 20 ms.
var crashArgs = []string{
	"--set", "source.sample_fps=120", "--set", "source.gate_threshold=0",
	"--set", "history.fsync_interval=10ms", "--set", "history.segment_bytes=1MiB", "--set", "history.max_bytes=0",
	"--set", "history.max_age=0", "--status-every", "20ms",
}

// TestE2ECrashSafety SIGKILLs the writing daemon at random moments, at
// least 50 times. After every kill the history opens, keeps every record
// the daemon had reported stored (a process crash loses nothing the kernel
// has), serves only verified records (the model's hash, the model's
// dimension, unit-norm embeddings, sane times), and its sequence numbers
// keep increasing across restarts. A final clean stop keeps every record.
func TestE2ECrashSafety(t *testing.T) {
	edgeclipBin(t)
	modelPath, hash := tinyModel(t)
	state := t.TempDir()
	dir := filepath.Join(state, "history")
	const wantKills, maxKills, budget = 50, 100, 60 * time.Second
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill timing seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	testStart := time.Now()
	var (
		kills, records, lastSeq int
		torn, recovered         int
		earlyKills, segments    int
	)
	for kills < maxKills && (time.Since(testStart) < budget || kills < wantKills) {
		if time.Since(testStart) > budget+20*time.Second {
			t.Fatalf("only %d kills in %s", kills, time.Since(testStart).Round(time.Second))
		}
		var reported atomic.Int64
		reported.Store(-1)
		d := startDaemon(t, daemonOpts{model: modelPath, state: state, source: "synth://?seed=1&fps=120&size=256x192",
			args: crashArgs, onLine: func(l string) {
				if m := storedRe.FindStringSubmatch(l); m != nil {
					n, _ := strconv.ParseInt(m[1], 10, 64)
					reported.Store(n)
				}
			}})
		// Most kills land while it writes (after it reported new records,
		// then a random delay); one in five lands during start-up and
		// recovery instead.
		early := rng.IntN(5) == 0
		started := time.Now()
		for !early && reported.Load() <= int64(records) {
			select {
			case <-d.exited:
				t.Fatalf("kill %d: daemon exited on its own: %v", kills, d.err)
			case <-time.After(5 * time.Millisecond):
			}
			if time.Since(started) > 20*time.Second {
				t.Fatalf("kill %d: no new records within 20 s", kills)
			}
		}
		if early {
			earlyKills++
			time.Sleep(time.Duration(rng.Int64N(int64(60 * time.Millisecond))))
		} else {
			time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		}
		d.stop(syscall.SIGKILL, 10*time.Second)
		kills++
		st := verifyHistory(t, dir, hash, testStart)
		if st.Records < int(reported.Load()) {
			t.Fatalf("kill %d: %d records after restart, but the daemon had reported %d stored", kills, st.Records, reported.Load())
		}
		grew := st.Records > records && int(st.LastSeq) > lastSeq
		if st.Records < records || int(st.LastSeq) < lastSeq || (!early && !grew) || (st.Records > 0 && st.FirstSeq != 1) {
			t.Fatalf("kill %d (early %v): records %d→%d, last seq %d→%d, first seq %d: want growth from seq 1",
				kills, early, records, st.Records, lastSeq, st.LastSeq, st.FirstSeq)
		}
		if st.Recovery.TruncatedBytes > 0 || st.Recovery.CorruptRegions > 0 {
			torn++
		}
		recovered += st.Recovery.SkippedRecords
		records, lastSeq, segments = st.Records, int(st.LastSeq), st.Segments
	}
	t.Logf("FIGURE crash safety: %d SIGKILLs (%d during start-up) in %s, %d records in %d segments, last seq %d; "+
		"%d recoveries truncated a torn tail, %d records skipped as corrupt",
		kills, earlyKills, time.Since(testStart).Round(time.Second), records, segments, lastSeq, torn, recovered)

	// A clean stop after all that keeps exactly what it reported.
	var final atomic.Int64
	d := startDaemon(t, daemonOpts{model: modelPath, state: state, source: "synth://?seed=1&fps=120&size=256x192",
		args: crashArgs, onLine: func(l string) {
			if m := storedRe.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				final.Store(n)
			}
		}})
	for final.Load() <= int64(records) {
		time.Sleep(10 * time.Millisecond)
	}
	took := d.stop(syscall.SIGTERM, 10*time.Second)
	if d.err != nil {
		t.Errorf("exit after SIGTERM: %v", d.err)
	}
	st := verifyHistory(t, dir, hash, testStart)
	if int64(st.Records) != final.Load() {
		t.Errorf("after a clean stop: %d records, the daemon's last status line said %d", st.Records, final.Load())
	}
	t.Logf("FIGURE SIGTERM to exit while writing 120 frames/s: %s", took.Round(time.Millisecond))
}

// verifyHistory opens the store as the daemon would and reads back every
// record; a record that reads must be one the daemon wrote.
func verifyHistory(t *testing.T, dir, hash string, since time.Time) history.Stats {
	t.Helper()
	s, err := history.Open(context.Background(), history.Options{Dir: dir})
	if err != nil {
		t.Fatalf("history does not open after a kill: %v", err)
	}
	defer s.Close()
	st := s.Stats()
	var missing int
	for seq := st.FirstSeq; seq <= st.LastSeq && seq > 0; seq++ {
		r, err := s.Get(seq)
		if errors.Is(err, history.ErrNotFound) {
			missing++
			continue
		}
		if err != nil {
			t.Fatalf("record %d: %v", seq, err)
		}
		var norm float64
		for _, v := range r.Embedding {
			norm += float64(v) * float64(v)
		}
		if r.Seq != seq || r.ModelHash != hash || len(r.Embedding) != 16 || math.Abs(math.Sqrt(norm)-1) > 1e-4 ||
			r.Time.Before(since) || r.Time.After(time.Now()) || len(r.Thumb) == 0 {
			t.Fatalf("record %d is not what the daemon wrote: seq %d, model %s, dim %d, norm %v, time %v, thumb %d bytes",
				seq, r.Seq, r.ModelHash, len(r.Embedding), math.Sqrt(norm), r.Time, len(r.Thumb))
		}
	}
	if missing > 0 {
		t.Fatalf("%d sequence numbers between %d and %d are missing", missing, st.FirstSeq, st.LastSeq)
	}
	return st
}
