package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/edgeclip/edgeclip/query"
)

// Embedder embeds alert texts; query.Engine satisfies it with its cache.
type Embedder interface {
	Embed(ctx context.Context, text string) ([]float32, error)
}

// Options configure a Manager.
type Options struct {
	// Path of the JSON file that holds the definitions ("" keeps them in memory only).
	Path       string
	LogitScale float32
	// Negatives are the default negative prompts (query.DefaultNegatives when nil).
	Negatives []string
	// Vocabulary builds each alert's contrast prompts
	// (query.DefaultVocabulary when nil; an empty one turns them off).
	Vocabulary query.Vocabulary
}

// Manager holds the standing alerts and evaluates frames against them.
type Manager struct {
	emb  Embedder
	opts Options

	mu     sync.Mutex
	alerts map[string]*entry
}

type entry struct {
	tracker
	vecs [][]float32 // the text, then each negative
	sims []float32
}

// Open loads persisted definitions (if the file exists) and embeds their texts.
func Open(ctx context.Context, emb Embedder, o Options) (*Manager, error) {
	if !(o.LogitScale > 0) {
		return nil, fmt.Errorf("alert: logit scale %v must be positive", o.LogitScale)
	}
	if o.Negatives == nil {
		o.Negatives = query.DefaultNegatives
	}
	if o.Vocabulary == nil {
		o.Vocabulary = query.DefaultVocabulary
	}
	m := &Manager{emb: emb, opts: o, alerts: map[string]*entry{}}
	if o.Path == "" {
		return m, nil
	}
	b, err := os.ReadFile(o.Path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	var specs []Spec
	if err := json.Unmarshal(b, &specs); err != nil {
		return nil, fmt.Errorf("alert: %s: %w", o.Path, err)
	}
	for i := range specs {
		if err := specs[i].Normalize(); err != nil {
			return nil, fmt.Errorf("alert: %s: entry %d: %w", o.Path, i, err)
		}
		e, err := m.newEntry(ctx, specs[i])
		if err != nil {
			return nil, err
		}
		m.alerts[specs[i].Name] = e
	}
	return m, nil
}

func (m *Manager) newEntry(ctx context.Context, s Spec) (*entry, error) {
	e := &entry{tracker: tracker{spec: s}}
	var vocab query.Vocabulary
	if !s.NoContrast {
		vocab = m.opts.Vocabulary
	}
	for _, t := range append([]string{s.Text}, query.NegativePrompts(s.Text, m.opts.Negatives, s.Negatives, vocab)...) {
		v, err := m.emb.Embed(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("alert: %s: embed %q: %w", s.Name, t, err)
		}
		e.vecs = append(e.vecs, v)
	}
	e.sims = make([]float32, len(e.vecs))
	return e, nil
}

// Set adds or replaces an alert and persists the definitions. A replaced
// alert starts over in the off state.
func (m *Manager) Set(ctx context.Context, s Spec) (Spec, error) {
	if err := s.Normalize(); err != nil {
		return s, err
	}
	e, err := m.newEntry(ctx, s)
	if err != nil {
		return s, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.alerts[s.Name]; !exists && len(m.alerts) >= MaxAlerts {
		return s, fmt.Errorf("alert: %s: already %d alerts, the maximum", s.Name, MaxAlerts)
	}
	old := m.alerts[s.Name]
	m.alerts[s.Name] = e
	if err := m.saveLocked(); err != nil {
		if old != nil {
			m.alerts[s.Name] = old
		} else {
			delete(m.alerts, s.Name)
		}
		return s, err
	}
	return s, nil
}

// Delete removes an alert and persists the definitions.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.alerts[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	delete(m.alerts, name)
	if err := m.saveLocked(); err != nil {
		m.alerts[name] = old
		return err
	}
	return nil
}

// List returns the definitions sorted by name.
func (m *Manager) List() []Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.listLocked()
}

func (m *Manager) listLocked() []Spec {
	out := make([]Spec, 0, len(m.alerts))
	for _, e := range m.alerts {
		out = append(out, e.spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Active returns the names of the alerts that are on, sorted.
func (m *Manager) Active() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var on []string
	for n, e := range m.alerts {
		if e.on {
			on = append(on, n)
		}
	}
	sort.Strings(on)
	return on
}

// Observe scores one encoded frame against every alert and returns the
// events it fires, in name order.
func (m *Manager) Observe(seq uint64, t time.Time, emb []float32) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var evs []Event
	for _, s := range m.listLocked() {
		e := m.alerts[s.Name]
		for i, v := range e.vecs {
			var d float32
			for k := range min(len(v), len(emb)) {
				d += v[k] * emb[k]
			}
			e.sims[i] = d
		}
		cal := query.Calibration{LogitScale: m.opts.LogitScale}
		if ev, ok := e.step(seq, t, cal.Score(e.sims[0], e.sims[1:])); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// saveLocked writes the definitions atomically: a temp file in the same
// directory, fsync, rename over the old file, fsync the directory.
func (m *Manager) saveLocked() error {
	if m.opts.Path == "" {
		return nil
	}
	b, err := json.MarshalIndent(m.listLocked(), "", "  ")
	if err != nil {
		return fmt.Errorf("alert: encode definitions: %w", err)
	}
	return WriteFileAtomic(m.opts.Path, append(b, '\n'))
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	tmp := f.Name()
	cleanup := func(err error) error { f.Close(); os.Remove(tmp); return fmt.Errorf("alert: write %s: %w", path, err) }
	if _, err := f.Write(data); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := f.Close(); err != nil {
		return cleanup(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("alert: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("alert: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("alert: sync %s: %w", dir, err)
	}
	return nil
}
