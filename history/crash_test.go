package history

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The crash test re-executes this test binary as a writer process and
// SIGKILLs it at random moments; the parent then opens the store and checks
// every record. The child reports progress through a pipe (fd 3):
// "O" once open, "A <seq>" after each Append returns, "S <seq>" when the
// fsynced seq advances.
const crashDirEnv = "EDGECLIP_HISTORY_CRASH_DIR"

func crashOptions(dir string) Options {
	// Small segments and budget so kills also land in rolls and retention.
	return Options{Dir: dir, FsyncInterval: 5 * time.Millisecond, SegmentBytes: 256 << 10, MaxBytes: 2 << 20}
}

// crashRecord is the deterministic content of seq (Time aside): two models
// of different dims, thumbnails up to 40 KB so writes span many pages.
func crashRecord(seq uint64) Record {
	if seq%7 == 0 {
		return testRecord(seq, "b", 24, 40000)
	}
	return testRecord(seq, "a", 48, 40000)
}

func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashKill")
	}
	w := bufio.NewWriterSize(os.NewFile(3, "progress"), 64)
	say := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
		w.Flush()
	}
	s, err := Open(context.Background(), crashOptions(dir))
	if err != nil {
		say("E open: %v", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(2)
	}
	say("O")
	var synced uint64
	for {
		s.wmu.Lock()
		next := s.next
		s.wmu.Unlock()
		r := crashRecord(next)
		r.Time = time.Now()
		seq, err := s.Append(r)
		if err != nil || seq != next {
			say("E append %d: got %d, %v", next, seq, err)
			os.Exit(2)
		}
		say("A %d", seq)
		if sy := s.synced.Load(); sy != synced {
			synced = sy
			say("S %d", sy)
		}
	}
}

type childReport struct {
	opened           bool
	appended, synced uint64 // last reported; 0 if none
	firstAppended    uint64
	err              string
}

// readReport reads the child's progress until EOF; opened is closed when
// the child says it has opened the store.
func readReport(sc *bufio.Scanner, opened chan<- struct{}) childReport {
	var r childReport
	defer func() {
		if !r.opened {
			close(opened)
		}
	}()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var n uint64
		if len(f) > 1 {
			n, _ = strconv.ParseUint(f[1], 10, 64)
		}
		switch f[0] {
		case "O":
			if !r.opened {
				r.opened = true
				close(opened)
			}
		case "A":
			r.appended = n
			if r.firstAppended == 0 {
				r.firstAppended = n
			}
		case "S":
			r.synced = n
		case "E":
			r.err = sc.Text()
		}
	}
	return r
}

func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes several seconds")
	}
	// Up to 80 kills; at least 50 must fit in the time budget (slow
	// machines and -race stop early once 50 are done and 40 s have passed).
	const (
		maxKills = 80
		minKills = 50
		budget   = 60 * time.Second
	)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var (
		lo, hi                    uint64 // retained range after the previous kill
		duringOpen, headerRepairs int
		truncations               int
		truncatedBytes            int64
		beyondSync                []int     // records that survived past the last reported fsync
		lag                       []float64 // ms from the newest surviving record to the kill
		verified                  int
	)
	start := time.Now()
	kills := 0
	for i := range maxKills {
		if i >= minKills && time.Since(start) > 40*time.Second {
			break
		}
		if time.Since(start) > budget {
			t.Fatalf("only %d kills fit in %v", i, budget)
		}
		kills++
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			if i == 0 { // e.g. an arm64 binary under qemu-user without binfmt
				t.Skipf("cannot re-execute the test binary: %v", err)
			}
			t.Fatal(err)
		}
		pw.Close()
		reports := make(chan childReport, 1)
		opened := make(chan struct{})
		go func() { reports <- readReport(bufio.NewScanner(pr), opened) }()
		// Mostly kill while appending; one kill in five at a random moment
		// from the start, which may land in Open's own recovery.
		if rng.IntN(5) == 0 {
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		} else {
			select {
			case <-opened:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("kill %d: child did not open the store within 10 s", i)
			}
			time.Sleep(time.Duration(rng.IntN(120)+1) * time.Millisecond)
		}
		killAt := time.Now()
		cmd.Process.Kill()
		cmd.Wait()
		rep := <-reports
		pr.Close()
		if rep.err != "" {
			t.Fatalf("kill %d: child failed: %s", i, rep.err)
		}
		if !rep.opened {
			duringOpen++
		}

		s, err := Open(context.Background(), crashOptions(dir))
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", i, err)
		}
		rec := s.Recovery()
		if rec.CorruptRegions != 0 || rec.SkippedRecords != 0 {
			t.Fatalf("kill %d: a process kill corrupted records: %+v", i, rec)
		}
		headerRepairs += rec.BadHeaders
		if rec.TruncatedBytes > 0 {
			truncations++
			truncatedBytes += rec.TruncatedBytes
		}
		seqs := allSeqs(t, s, "sha256:a", "sha256:b")
		if len(seqs) == 0 {
			if rep.appended != 0 || hi != 0 {
				t.Fatalf("kill %d: store is empty, child had appended %d", i, rep.appended)
			}
			s.Close()
			continue
		}
		newLo, newHi := seqs[0], seqs[len(seqs)-1]
		if uint64(len(seqs)) != newHi-newLo+1 {
			t.Fatalf("kill %d: retained seqs %d..%d have gaps (%d records)", i, newLo, newHi, len(seqs))
		}
		if newLo < lo || newHi < hi {
			t.Fatalf("kill %d: range went from %d..%d back to %d..%d", i, lo, hi, newLo, newHi)
		}
		if newHi < rep.synced || newHi < rep.appended {
			t.Fatalf("kill %d: newest record %d, child reported %d appended and %d fsynced", i, newHi, rep.appended, rep.synced)
		}
		if rep.appended > 0 && newHi > rep.appended+1 {
			t.Fatalf("kill %d: newest record %d but child appended only up to %d (+1 unreported)", i, newHi, rep.appended)
		}
		for _, seq := range seqs {
			got, err := s.Get(seq)
			if err != nil {
				t.Fatalf("kill %d: Get(%d): %v", i, seq, err)
			}
			want := crashRecord(seq)
			want.Time = got.Time
			checkRecord(t, got, want)
			verified++
		}
		if n := dirBytes(t, dir); n > 2<<20 {
			t.Fatalf("kill %d: %d bytes of segments over the 2 MiB budget", i, n)
		}
		if rep.firstAppended > 0 {
			beyondSync = append(beyondSync, int(newHi-rep.synced))
			latest, err := s.Latest()
			if err != nil {
				t.Fatal(err)
			}
			lag = append(lag, float64(killAt.Sub(latest.Time).Microseconds())/1000)
		}
		lo, hi = newLo, newHi
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(beyondSync)
	slices.Sort(lag)
	pct := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[int(p*float64(len(v)-1))]
	}
	t.Logf("%d SIGKILLs in %v (%d before the child finished Open): final range %d..%d, %d record reads verified",
		kills, time.Since(start).Round(time.Millisecond), duringOpen, lo, hi, verified)
	t.Logf("torn tails truncated after %d kills (%d bytes), %d segment headers rewritten; 0 corrupt records served",
		truncations, truncatedBytes, headerRepairs)
	if len(beyondSync) > 0 {
		t.Logf("records beyond the last reported fsync that survived (page cache outlives the process): median %d, max %d",
			beyondSync[len(beyondSync)/2], beyondSync[len(beyondSync)-1])
		t.Logf("kill minus newest surviving record: p50 %.2f ms, max %.2f ms (fsync interval 5 ms)", pct(lag, 0.5), pct(lag, 1))
	}
}
