package native

import (
	"context"
	"math/rand/v2"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// TestSteadyStateAllocs checks that, once warm, encoding allocates nothing
// for every precision and thread count.
func TestSteadyStateAllocs(t *testing.T) {
	cfg := tinyConfig(arch.QuickGELU)
	w := randomWeights(cfg, 3)
	px := make([]float32, 2*3*cfg.ImageSize*cfg.ImageSize)
	ids := [][]int32{{1, 5, 7, 2}, {3, 4}}
	for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		for _, threads := range []int{1, 2, 3} {
			s, err := Backend{}.Open(context.Background(), w, runtime.Options{Precision: prec, Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			img, txt := make([]float32, 2*cfg.EmbedDim), make([]float32, 2*cfg.EmbedDim)
			encode := func() {
				if err := s.EncodeImages(context.Background(), px, 2, img); err != nil {
					t.Fatal(err)
				}
				if err := s.EncodeTexts(context.Background(), ids, txt); err != nil {
					t.Fatal(err)
				}
			}
			encode()
			if n := testing.AllocsPerRun(20, encode); n != 0 {
				t.Errorf("%s, %d threads: %v allocations per call once warm, want 0", prec, threads, n)
			}
			s.Close()
		}
	}
}

// TestThreadsAgree checks that the work split does not change results: each
// output element is computed by one worker in the same order whatever the
// thread count, so the embeddings match bit for bit.
func TestThreadsAgree(t *testing.T) {
	cfg := tinyConfig(arch.GELU)
	w := randomWeights(cfg, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	px := make([]float32, 3*3*cfg.ImageSize*cfg.ImageSize)
	for i := range px {
		px[i] = float32(rng.NormFloat64())
	}
	for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		var want []float32
		for _, threads := range []int{1, 2, 5} {
			s, err := Backend{}.Open(context.Background(), w, runtime.Options{Precision: prec, Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 3*cfg.EmbedDim)
			if err := s.EncodeImages(context.Background(), px, 3, got); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if want == nil {
				want = got
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: %d threads: out[%d] = %v, 1 thread %v", prec, threads, i, got[i], want[i])
				}
			}
		}
	}
}

// TestCloseStopsWorkers checks that Close ends the session's helper
// goroutines.
func TestCloseStopsWorkers(t *testing.T) {
	cfg := tinyConfig(arch.QuickGELU)
	s, err := Backend{}.Open(context.Background(), randomWeights(cfg, 5), runtime.Options{Threads: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Other tests' goroutines may still be ending, so count down from here.
	want := goruntime.NumGoroutine() - 7
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, want ≤ %d", goruntime.NumGoroutine(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// countTask counts how often each item ran.
type countTask struct{ hits []atomic.Int32 }

func (c *countTask) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

// TestPoolManyLoops runs thousands of loops through pools of several sizes,
// pausing for up to twice the spin time now and then so that helpers park
// and must be woken, and checks that every item runs exactly once per loop and that no
// loop stalls (a lost wake-up would hang run).
func TestPoolManyLoops(t *testing.T) {
	const loops = 3000
	for _, threads := range []int{2, 3, 5} {
		p := newPool(threads)
		c := &countTask{hits: make([]atomic.Int32, 4*threads)}
		done := make(chan int, 1)
		rng := rand.New(rand.NewPCG(uint64(threads), 9))
		go func() {
			for range loops {
				// Pauses around the spin time start loops while helpers
				// are deciding to park.
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.Int64N(int64(2 * spinFor))))
				}
				p.run(c, len(c.hits), 1)
			}
			done <- 0
		}()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			var parked []bool
			for _, h := range p.helpers {
				parked = append(parked, h.sleeping.Load())
			}
			t.Fatalf("%d threads: loops stalled (a helper missed its wake-up): gen %d, pending %d, sleeping %v, next %d of %d",
				threads, p.gen.Load(), p.pending.Load(), parked, p.next.Load(), p.n)
		}
		p.stop()
		for i := range c.hits {
			if got := c.hits[i].Load(); got != loops {
				t.Errorf("%d threads: item %d ran %d times in %d loops", threads, i, got, loops)
			}
		}
	}
}
