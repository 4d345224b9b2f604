package main

import (
	"context"
	"fmt"

	flag "github.com/spf13/pflag"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/preprocess"
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
	path      string
	backend   string
	precision string
	threads   int
}

// register adds --model, --backend, --precision and --threads to fs.
func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.path, "model", "", "model file (default: the shipped model)")
	fs.StringVar(&m.backend, "backend", "native", "inference backend")
	fs.StringVar(&m.precision, "precision", "f32", "f32, w8 or w8a8")
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
	spec := f.Tokenizer()
	if l.tok, err = tokenizer.New(spec.Merges, spec.Vocab); err != nil {
		return fail(fmt.Errorf("%s: tokenizer: %w", m.path, err))
	}
	cfg := f.Config()
	if l.pre, err = preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std}); err != nil {
		return fail(fmt.Errorf("%s: preprocessing: %w", m.path, err))
	}
	prec := runtime.FP32
	if m.precision != "" {
		if prec, err = runtime.ParsePrecision(m.precision); err != nil {
			return fail(err)
		}
	}
	b, err := runtime.Get(m.backend)
	if err != nil {
		return fail(err)
	}
	if l.sess, err = b.Open(ctx, f, runtime.Options{Precision: prec, Threads: m.threads}); err != nil {
		return fail(err)
	}
	return l, nil
}
