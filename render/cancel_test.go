package render

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
)

// cancelAfter is a context that reports itself cancelled once its Err has
// been asked more than left times: a caller that checks it only between
// the stages of a render (a handful of times) never sees the cancellation,
// one that checks it while filtering does. No clock is involved.
type cancelAfter struct {
	context.Context
	left atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestLongFiltersStopWhenCancelled: the filters that take long on a large
// image (op_blur, op_grow on the composite; op_usm on the view) stop when
// the request is cancelled (its socket client gave up, ipsd shuts down)
// instead of holding a render worker to the end.
func TestLongFiltersStopWhenCancelled(t *testing.T) {
	src := encodePNG(t, testImage(300, 200))
	for _, mod := range []string{"op_blur=20", "op_grow=20", "op_usm=2,20,0,0"} {
		r, err := Parse(mod)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &cancelAfter{Context: context.Background()}
		ctx.left.Store(20)
		_, err = Render(ctx, src, r, Limits{}, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Render(%s) with a context cancelled while it filters = %v; want context.Canceled", mod, err)
		}
	}
}
