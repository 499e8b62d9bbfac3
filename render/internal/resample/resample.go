// Package resample scales 8-bit images with a separable filter: weights
// are computed once per axis in 14-bit fixed point; each output row is a
// vertical pass over the source rows and columns it needs into a row of
// 16-bit samples (7 fractional bits), then a horizontal pass (resample.c,
// SSE2 on amd64); the output is split into row bands resampled in
// parallel. Crop and scale are one operation: an Axis maps any span of the
// source (fractional ends included) onto the output.
package resample

/*
#include "resample.h"
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Filter is a resampling kernel, symmetric about 0: At is only called
// with t in [0, Support) (as golang.org/x/image/draw.Kernel). When
// shrinking, the filter is widened by the reduction factor.
type Filter struct {
	Support float64
	At      func(float64) float64
}

const (
	shift = 14
	one   = 1 << shift
	half  = 1 << (shift - 1)
)

// An Axis holds the weights mapping source samples onto Len output samples
// along one axis: output i is the sum over k < Taps of W[i*Taps+k] times
// source sample Start[i]+k, in units of 1<<14.
type Axis struct {
	Len, Taps int
	Start     []int
	W         []int32
}

// NewAxis computes the weights that resample the source span [x0, x1)
// (in source pixel units; pixel j covers [j, j+1)) onto n output samples.
// Taps falling outside [lo, hi) read the nearest sample inside it. It
// panics unless lo < hi and n > 0.
func NewAxis(f Filter, x0, x1 float64, n, lo, hi int) *Axis {
	if lo >= hi || n <= 0 || !(x1 > x0) {
		panic("resample: bad axis")
	}
	scale := (x1 - x0) / float64(n)
	fs := max(scale, 1)
	sup := f.Support * fs
	taps := min(int(math.Ceil(2*sup))+1, hi-lo)
	a := &Axis{Len: n, Taps: taps, Start: make([]int, n), W: make([]int32, n*taps)}
	ws := make([]float64, taps)
	for i := range n {
		c := x0 + (float64(i)+0.5)*scale
		j0, j1 := int(math.Floor(c-sup)), int(math.Ceil(c+sup))
		start := min(max(j0, lo), hi-taps)
		clear(ws)
		var sum float64
		for j := j0; j < j1; j++ {
			t := math.Abs(float64(j)+0.5-c) / fs
			if t >= f.Support {
				continue
			}
			v := f.At(t)
			ws[min(max(j, lo), hi-1)-start] += v
			sum += v
		}
		if sum == 0 { // degenerate filter: take the nearest sample
			ws[min(max(int(c), lo), hi-1)-start], sum = 1, 1
		}
		a.Start[i] = start
		w := a.W[i*taps : (i+1)*taps]
		var total int32
		big := 0
		for k, v := range ws {
			w[k] = int32(math.Round(v / sum * one))
			total += w[k]
			if w[k] > w[big] {
				big = k
			}
		}
		w[big] += one - total // weights sum to exactly one
	}
	return a
}

// Slice returns the axis of outputs [i, j) of a: the part of a scaled
// image that is visible, with the same mapping.
func (a *Axis) Slice(i, j int) *Axis {
	return &Axis{Len: j - i, Taps: a.Taps, Start: a.Start[i:j], W: a.W[i*a.Taps : j*a.Taps]}
}

// Plane is an 8-bit image of Ch interleaved channels: sample c of pixel
// (x, y) is Pix[y*Stride+x*Ch+c].
type Plane struct {
	Pix         []byte
	Stride      int
	W, H, Ch    int
	Premultiply bool // Ch == 4 and premultiplied RGBA: colour is clamped to alpha
}

var midPool sync.Pool // *[]int16, one row between the passes

// plainC makes Resize take the plain C loops (tests compare the two).
var plainC = false

// Resize resamples src into dst, whose size must be ax.Len × ay.Len; the
// axes index src's columns and rows. Work is split into row bands run in
// parallel when the image is large enough to pay for it. It panics when an
// axis reads outside src or a plane's buffer is too small for its size.
func Resize(dst, src Plane, ax, ay *Axis) {
	if dst.W != ax.Len || dst.H != ay.Len || dst.Ch != src.Ch || src.Ch < 1 {
		panic("resample: size mismatch")
	}
	if dst.W == 0 || dst.H == 0 {
		return
	}
	ch := src.Ch
	if src.Stride < src.W*ch || len(src.Pix) < (src.H-1)*src.Stride+src.W*ch ||
		dst.Stride < dst.W*ch || len(dst.Pix) < (dst.H-1)*dst.Stride+dst.W*ch {
		panic("resample: plane buffer too small")
	}
	col0, col1 := math.MaxInt, 0
	for _, s := range ax.Start[:ax.Len] {
		col0, col1 = min(col0, s), max(col1, s+ax.Taps)
	}
	for _, s := range ay.Start[:ay.Len] {
		if s < 0 || s+ay.Taps > src.H {
			panic("resample: vertical axis reads outside the source")
		}
	}
	if col0 < 0 || col1 > src.W {
		panic("resample: horizontal axis reads outside the source")
	}

	xstart := make([]int64, ax.Len)
	for i, s := range ax.Start[:ax.Len] {
		xstart[i] = int64(s - col0)
	}
	ystart := make([]int64, ay.Len)
	for i, s := range ay.Start[:ay.Len] {
		ystart[i] = int64(s)
	}
	xpad := 2
	if ch == 1 {
		xpad = 8
	}
	xw16, xp, xok := narrow(ax, xpad)
	yw16, yp, yok := narrow(ay, 2)

	var pin runtime.Pinner
	defer pin.Unpin()
	ptr := func(p unsafe.Pointer) unsafe.Pointer { pin.Pin(p); return p }
	k := &C.struct_ipsd_resize{
		src:        (*C.uint8_t)(ptr(unsafe.Pointer(&src.Pix[0]))),
		src_stride: C.long(src.Stride),
		dst:        (*C.uint8_t)(ptr(unsafe.Pointer(&dst.Pix[0]))),
		dst_stride: C.long(dst.Stride),
		dst_w:      C.int(dst.W),
		ch:         C.int(ch),
		col0:       C.int(col0),
		cols:       C.int(col1 - col0),
		ystart:     (*C.int64_t)(ptr(unsafe.Pointer(&ystart[0]))),
		yw:         (*C.int32_t)(ptr(unsafe.Pointer(&ay.W[0]))),
		ytaps:      C.int(ay.Taps),
		yw16:       (*C.int16_t)(ptr(unsafe.Pointer(&yw16[0]))),
		yptaps:     C.int(yp),
		xstart:     (*C.int64_t)(ptr(unsafe.Pointer(&xstart[0]))),
		xw:         (*C.int32_t)(ptr(unsafe.Pointer(&ax.W[0]))),
		xtaps:      C.int(ax.Taps),
		xw16:       (*C.int16_t)(ptr(unsafe.Pointer(&xw16[0]))),
		xptaps:     C.int(xp),
	}
	if dst.Premultiply && ch == 4 {
		k.premultiply = 1
	}
	if !xok || !yok || plainC {
		k.wide = 1
	}
	midLen := (col1 - col0 + 8) * ch // the horizontal pass reads up to 8 samples past the last column

	bands := 1
	if work := dst.W * dst.H * ch * (ax.Taps + ay.Taps); work > 1<<20 {
		bands = min(runtime.GOMAXPROCS(0), dst.H/16, work>>19)
		bands = max(bands, 1)
	}
	run := func(y0, y1 int) {
		mp, _ := midPool.Get().(*[]int16)
		if mp == nil || cap(*mp) < midLen {
			m := make([]int16, midLen)
			mp = &m
		}
		mid := (*mp)[:midLen]
		C.ipsd_resize_rows(k, C.int(y0), C.int(y1), (*C.int16_t)(unsafe.Pointer(&mid[0])))
		midPool.Put(mp)
	}
	if bands == 1 {
		run(0, dst.H)
		return
	}
	var wg sync.WaitGroup
	for b := range bands {
		y0, y1 := b*dst.H/bands, (b+1)*dst.H/bands
		if y0 < y1 {
			wg.Go(func() { run(y0, y1) })
		}
	}
	wg.Wait()
}

// narrow returns a's weights as int16, each output's taps zero-padded to a
// multiple of pad, and whether the 16-bit kernels can take them: every
// weight fits in 16 bits and each output's weights add up, in absolute
// value, to at most four (so sums of 15-bit samples stay within 32 bits).
func narrow(a *Axis, pad int) ([]int16, int, bool) {
	pt := (a.Taps + pad - 1) / pad * pad
	w := make([]int16, a.Len*pt)
	ok := true
	for i := range a.Len {
		var abs int64
		for k, v := range a.W[i*a.Taps : (i+1)*a.Taps] {
			if v > math.MaxInt16 || v < math.MinInt16 {
				ok = false
			}
			w[i*pt+k] = int16(v)
			abs += int64(max(v, -v))
		}
		if abs > 4*one {
			ok = false
		}
	}
	return w, pt, ok
}
