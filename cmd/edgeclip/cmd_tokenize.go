package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/edgeclip/edgeclip/models"
)

func init() {
	register(command{name: "tokenize", short: "print a model's token ids for texts as JSON", run: runTokenize})
}

func runTokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", "--model M TEXT...", stderr)
	path := fs.String("model", "", "model file (default: the shipped model)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		if *path = defaultModelPath(); *path == "" {
			return fmt.Errorf("no model: give --model FILE")
		}
	}
	f, err := models.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := f.Tokenizer().New()
	if err != nil {
		return fmt.Errorf("%s: tokenizer: %w", *path, err)
	}
	type entry struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	}
	out := []entry{}
	for _, t := range fs.Args() {
		out = append(out, entry{Text: t, IDs: tok.Encode(t, f.Config().ContextLen)})
	}
	return json.NewEncoder(stdout).Encode(out)
}
