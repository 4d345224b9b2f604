package alert

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestTrackerHysteresis(t *testing.T) {
	s := Spec{Name: "door", Text: "a person at the door", Threshold: .5, MinFrames: 3, ClearAfter: Duration(2 * time.Second), Cooldown: Duration(5 * time.Second)}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	tr := &tracker{spec: s}
	// 5 fps: scores per 0.2 s frame.
	scores := []float32{
		.1, .9, .2, // single spike: no start (min 3 frames)
		.8, .9, .7, // start at the third frame
		.4, .6, .35, .35, .35, .35, .35, .35, .35, .35, .35, // dips above Clear (0.3): no end
		.1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, // under Clear for ≥ 2 s: end
		.9, .9, .9, .9, // within cooldown: no start
	}
	var got []string
	for i, sc := range scores {
		if ev, ok := tr.step(uint64(i), t0.Add(time.Duration(i)*200*time.Millisecond), sc); ok {
			got = append(got, string(ev.Kind)+"@"+strconv.Itoa(i))
			if ev.Kind == End && ev.BestSeq != 4 {
				t.Errorf("end event best frame %d, want 4 (score .9)", ev.BestSeq)
			}
		}
	}
	want := "start@5 end@27"
	if strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
}

func TestSpecValidation(t *testing.T) {
	for name, s := range map[string]Spec{
		"bad name":      {Name: "Door!", Text: "x"},
		"empty text":    {Name: "a"},
		"long text":     {Name: "a", Text: strings.Repeat("x", MaxTextLen+1)},
		"threshold":     {Name: "a", Text: "x", Threshold: 1.5},
		"clear above":   {Name: "a", Text: "x", Threshold: .5, Clear: .6},
		"min frames":    {Name: "a", Text: "x", MinFrames: -1},
		"negative dur":  {Name: "a", Text: "x", Cooldown: Duration(-time.Second)},
		"too many negs": {Name: "a", Text: "x", Negatives: make([]string, MaxNegatives+1)},
	} {
		if err := s.Normalize(); err == nil {
			t.Errorf("%s: want error", name)
		} else if !strings.Contains(err.Error(), "alert: ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
}

type axisEmbedder map[string]int

func (a axisEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v := make([]float32, 3)
	if i, ok := a[text]; ok {
		v[i] = 1
	} else {
		v[2] = 1
	}
	return v, nil
}

func TestManagerPersistsAndFires(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	emb := axisEmbedder{"a person at the door": 0, "a red truck": 1}
	ctx := context.Background()
	m, err := Open(ctx, emb, Options{Path: path, LogitScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set(ctx, Spec{Name: "door", Text: "a person at the door", MinFrames: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set(ctx, Spec{Name: "truck", Text: "a red truck", MinFrames: 2}); err != nil {
		t.Fatal(err)
	}
	// Reopen: definitions survive.
	m, err = Open(ctx, emb, Options{Path: path, LogitScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	if l := m.List(); len(l) != 2 || l[0].Name != "door" || l[1].MinFrames != 2 {
		t.Fatalf("reloaded %+v", l)
	}
	var evs []Event
	person := []float32{0.8, 0, 0.6}
	for i := range 4 {
		evs = append(evs, m.Observe(uint64(i), t0.Add(time.Duration(i)*time.Second), person)...)
	}
	if len(evs) != 1 || evs[0].Name != "door" || evs[0].Kind != Start {
		t.Fatalf("events %+v, want one door start", evs)
	}
	if a := m.Active(); len(a) != 1 || a[0] != "door" {
		t.Errorf("active %v", a)
	}
	if err := m.Delete("door"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("door"); err == nil {
		t.Error("second delete: want ErrNotFound")
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "door") || !strings.Contains(string(b), "truck") {
		t.Errorf("file after delete: %s", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, emb, Options{Path: path, LogitScale: 100}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: error %v should name %s", err, path)
	}
}

// A frame that shares half the description (a blue circle for "a red
// circle") beats the background prompts easily; only the query's contrast
// prompts keep it from starting the alert.
func TestContrastPromptsStopNearMisses(t *testing.T) {
	ctx := context.Background()
	emb := axisEmbedder{"a red circle": 0, "a blue circle": 1}
	m, err := Open(ctx, emb, Options{LogitScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Spec{{Name: "contrast", Text: "a red circle"}, {Name: "plain", Text: "a red circle", NoContrast: true}} {
		if _, err := m.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	blueCircle := []float32{0.6, 0.8, 0}
	var fired []string
	for i := range 6 {
		for _, ev := range m.Observe(uint64(i), t0.Add(time.Duration(i)*200*time.Millisecond), blueCircle) {
			fired = append(fired, ev.Name+" "+string(ev.Kind))
		}
	}
	if strings.Join(fired, ",") != "plain start" {
		t.Errorf("events %q, want only the alert without contrasts to start", fired)
	}
}
