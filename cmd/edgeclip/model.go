package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	flag "github.com/spf13/pflag"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
	_ "github.com/edgeclip/edgeclip/runtime/native"
)

// loaded is a model file opened for encoding: weights, tokenizer,
// preprocessing and a backend session.
type loaded struct {
	file *models.File
	tok  *tokenizer.Tokenizer
	pre  *preprocess.Preprocessor
	sess runtime.Session
	prec runtime.Precision // what sess runs at
}

func (l *loaded) Close() error {
	var err error
	if l.sess != nil {
		err = l.sess.Close()
	}
	if l.file != nil {
		if e := l.file.Close(); err == nil {
			err = e
		}
	}
	return err
}

type modelFlags struct {
	path    string
	backend string
	// precision is auto or a runtime precision; open replaces it with the
	// one the session runs at.
	precision string
	threads   int
}

// register adds --model, --backend, --precision and --threads to fs.
func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.path, "model", "", "model file (default: the shipped model)")
	fs.StringVar(&m.backend, "backend", "native", "inference backend")
	fs.StringVar(&m.precision, "precision", quantize.Auto, "auto (the model file's, else f32), f32, w8 or w8a8")
	fs.IntVar(&m.threads, "threads", 0, "threads (0: all cores)")
}

func (m *modelFlags) open(ctx context.Context) (*loaded, error) {
	if m.path == "" {
		if m.path = defaultModelPath(); m.path == "" {
			return nil, fmt.Errorf("no model: give --model FILE")
		}
	}
	f, err := models.Open(m.path)
	if err != nil {
		return nil, err
	}
	l := &loaded{file: f}
	fail := func(err error) (*loaded, error) { l.Close(); return nil, err }
	if l.tok, err = f.Tokenizer().New(); err != nil {
		return fail(fmt.Errorf("%s: tokenizer: %w", m.path, err))
	}
	cfg := f.Config()
	if l.pre, err = preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std}); err != nil {
		return fail(fmt.Errorf("%s: preprocessing: %w", m.path, err))
	}
	prec, auto, err := quantize.ResolvePrecision(m.precision, f.Metadata())
	if err != nil {
		return fail(fmt.Errorf("--precision: %w", err))
	}
	b, err := runtime.Get(m.backend)
	if err != nil {
		return fail(err)
	}
	l.sess, err = b.Open(ctx, f, runtime.Options{Precision: prec, Threads: m.threads})
	if err != nil && auto && prec != runtime.FP32 && errors.Is(err, runtime.ErrNotSupported) {
		// The file's precision is a preference; an explicit one is not.
		slog.Warn("backend cannot run the model file's precision; running f32", "backend", m.backend, "model_precision", prec, "err", err)
		prec = runtime.FP32
		l.sess, err = b.Open(ctx, f, runtime.Options{Precision: prec, Threads: m.threads})
	}
	if err != nil {
		return fail(err)
	}
	l.prec, m.precision = prec, string(prec)
	return l, nil
}
