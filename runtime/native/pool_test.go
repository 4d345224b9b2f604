package native

import (
	"context"
	"math/rand/v2"
	goruntime "runtime"
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
