package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/kernels"
)

// textEncoder adapts tokenizer + session to query.TextEncoder.
type textEncoder struct {
	tok    *tokenizer.Tokenizer
	sess   runtime.Session
	ctxLen int
	dim    int
}

func (t *textEncoder) EncodeText(ctx context.Context, text string) ([]float32, error) {
	ids := t.tok.Encode(text, t.ctxLen)
	out := make([]float32, t.dim)
	if err := t.sess.EncodeTexts(ctx, [][]int32{ids}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// storeIndex adapts the history store to query.Index.
type storeIndex struct{ s *history.Store }

func (x storeIndex) ScoreEach(ctx context.Context, model string, qs [][]float32, since, until time.Time,
	fn func(seq uint64, t time.Time, sims []float32)) error {
	if until.IsZero() {
		until = time.Unix(0, 1<<62) // open end
	}
	sims := make([]float32, len(qs))
	var err error
	n := 0
	scanErr := x.s.Scan(model, since, until, func(e history.Entry, vec []float32) bool {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			return false
		}
		for i, q := range qs {
			if len(q) != len(vec) {
				err = fmt.Errorf("query dimension %d, history %d", len(q), len(vec))
				return false
			}
			sims[i] = kernels.Dot(q, vec)
		}
		fn(e.Seq, e.Time, sims)
		return true
	})
	if scanErr != nil {
		return scanErr
	}
	return err
}
