// The resampler's inner loops (resample.go has the layout of axes and
// planes). Each output row is made in two passes: a vertical pass over the
// source rows it needs, for the source columns it needs, into one row of
// 16-bit samples with 7 fractional bits, then a horizontal pass from that
// row into the 8-bit output. With SSE2 (every amd64 CPU) both passes use
// pmaddwd on 16-bit weights; the plain C loops compute the same sums, and
// are also taken for weights too large for 16 bits (r->wide).

#include <stdint.h>
#include <string.h>
#include "resample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SHIFT 14                 // weights: 1 << SHIFT is one
#define MIDBITS 7                // fractional bits kept between the passes
#define MIDMAX (255 << MIDBITS)  // the largest value kept between the passes
#define VSHIFT (SHIFT - MIDBITS) // after the vertical pass
#define HSHIFT (SHIFT + MIDBITS) // after the horizontal pass

static inline int16_t clamp_mid(int64_t v) {
	v = (v + (1 << (VSHIFT - 1))) >> VSHIFT;
	return (int16_t)(v < 0 ? 0 : v > MIDMAX ? MIDMAX : v);
}

static inline uint8_t clamp_out(int64_t v) {
	v = (v + (1 << (HSHIFT - 1))) >> HSHIFT;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// vertical_c sets mid[i], i < n, to the sum over k < taps of
// src[k*stride+i] times w[k].
static void vertical_c(int16_t *mid, const uint8_t *src, long stride, int i, int n, const int32_t *w, int taps) {
	for (; i < n; i++) {
		int64_t s = 0;
		for (int k = 0; k < taps; k++) {
			s += (int64_t)src[(long)k * stride + i] * w[k];
		}
		mid[i] = clamp_mid(s);
	}
}

static void horizontal_c(uint8_t *out, const int16_t *mid, int n, int ch, const int64_t *start, const int32_t *w, int taps) {
	for (int x = 0; x < n; x++) {
		const int16_t *p = mid + (long)ch * start[x];
		const int32_t *wx = w + (long)x * taps;
		for (int c = 0; c < ch; c++) {
			int64_t s = 0;
			for (int k = 0; k < taps; k++) {
				s += (int64_t)p[(long)ch * k + c] * wx[k];
			}
			out[(long)ch * x + c] = clamp_out(s);
		}
	}
}

#if defined(__SSE2__)
static inline __m128i pair(int16_t a, int16_t b) {
	return _mm_set1_epi32((int32_t)(uint16_t)a | (int32_t)((uint32_t)(uint16_t)b << 16));
}

static void vertical_sse2(int16_t *mid, const uint8_t *src, long stride, int n, const int16_t *w, int taps) {
	const __m128i zero = _mm_setzero_si128();
	const __m128i round = _mm_set1_epi32(1 << (VSHIFT - 1));
	const __m128i top = _mm_set1_epi16(MIDMAX);
	int i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
		for (int k = 0; k < taps; k += 2) {
			// rows k and k+1 (w is padded with a zero weight, and the
			// row read for it is row k again), bytes interleaved
			const uint8_t *q = src + (long)k * stride + i;
			__m128i r0 = _mm_loadu_si128((const __m128i *)q);
			__m128i r1 = k + 1 < taps ? _mm_loadu_si128((const __m128i *)(q + stride)) : r0;
			__m128i wk = pair(w[k], w[k + 1]);
			__m128i lo = _mm_unpacklo_epi8(r0, r1), hi = _mm_unpackhi_epi8(r0, r1);
			a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), wk));
			a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), wk));
			a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), wk));
			a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), wk));
		}
		a0 = _mm_srai_epi32(_mm_add_epi32(a0, round), VSHIFT);
		a1 = _mm_srai_epi32(_mm_add_epi32(a1, round), VSHIFT);
		a2 = _mm_srai_epi32(_mm_add_epi32(a2, round), VSHIFT);
		a3 = _mm_srai_epi32(_mm_add_epi32(a3, round), VSHIFT);
		_mm_storeu_si128((__m128i *)(mid + i), _mm_min_epi16(_mm_max_epi16(_mm_packs_epi32(a0, a1), zero), top));
		_mm_storeu_si128((__m128i *)(mid + i + 8), _mm_min_epi16(_mm_max_epi16(_mm_packs_epi32(a2, a3), zero), top));
	}
	for (; i < n; i++) {
		int32_t s = 0;
		for (int k = 0; k < taps; k++) {
			s += (int32_t)src[(long)k * stride + i] * w[k];
		}
		mid[i] = clamp_mid(s);
	}
}

// horizontal1_sse2: one channel; w holds ptaps weights per output (a
// multiple of 8, zero-padded) and mid has ptaps readable samples past any
// start.
static void horizontal1_sse2(uint8_t *out, const int16_t *mid, int n, const int64_t *start, const int16_t *w, int ptaps) {
	for (int x = 0; x < n; x++) {
		const int16_t *p = mid + start[x];
		const int16_t *wx = w + (long)x * ptaps;
		__m128i acc = _mm_setzero_si128();
		for (int k = 0; k < ptaps; k += 8) {
			acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(p + k)),
			                                        _mm_loadu_si128((const __m128i *)(wx + k))));
		}
		acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, _MM_SHUFFLE(1, 0, 3, 2)));
		acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, _MM_SHUFFLE(2, 3, 0, 1)));
		out[x] = clamp_out(_mm_cvtsi128_si32(acc));
	}
}

// horizontal4_sse2: four interleaved channels; ptaps is even.
static void horizontal4_sse2(uint8_t *out, const int16_t *mid, int n, const int64_t *start, const int16_t *w, int ptaps) {
	const __m128i round = _mm_set1_epi32(1 << (HSHIFT - 1));
	for (int x = 0; x < n; x++) {
		const int16_t *p = mid + 4 * start[x];
		const int16_t *wx = w + (long)x * ptaps;
		__m128i acc = _mm_setzero_si128();
		for (int k = 0; k < ptaps; k += 2) {
			// two pixels, r0 g0 b0 a0 r1 g1 b1 a1, as r0 r1 g0 g1 b0 b1 a0 a1
			__m128i v = _mm_loadu_si128((const __m128i *)(p + 4 * k));
			v = _mm_unpacklo_epi16(v, _mm_srli_si128(v, 8));
			acc = _mm_add_epi32(acc, _mm_madd_epi16(v, pair(wx[k], wx[k + 1])));
		}
		acc = _mm_srai_epi32(_mm_add_epi32(acc, round), HSHIFT);
		acc = _mm_packs_epi32(acc, acc);
		acc = _mm_packus_epi16(acc, acc);
		uint32_t px = (uint32_t)_mm_cvtsi128_si32(acc);
		memcpy(out + 4 * x, &px, 4);
	}
}
#endif

void ipsd_resize_rows(const struct ipsd_resize *r, int y0, int y1, int16_t *mid) {
	const int ch = r->ch;
	const int n = r->cols * ch;
	for (int y = y0; y < y1; y++) {
		const uint8_t *src = r->src + (long)r->ystart[y] * r->src_stride + (long)r->col0 * ch;
		uint8_t *out = r->dst + (long)y * r->dst_stride;
#if defined(__SSE2__)
		if (!r->wide) {
			vertical_sse2(mid, src, r->src_stride, n, r->yw16 + (long)y * r->yptaps, r->ytaps);
			if (ch == 1) {
				horizontal1_sse2(out, mid, r->dst_w, r->xstart, r->xw16, r->xptaps);
			} else if (ch == 4) {
				horizontal4_sse2(out, mid, r->dst_w, r->xstart, r->xw16, r->xptaps);
			} else {
				horizontal_c(out, mid, r->dst_w, ch, r->xstart, r->xw, r->xtaps);
			}
		} else
#endif
		{
			vertical_c(mid, src, r->src_stride, 0, n, r->yw + (long)y * r->ytaps, r->ytaps);
			horizontal_c(out, mid, r->dst_w, ch, r->xstart, r->xw, r->xtaps);
		}
		if (r->premultiply && ch == 4) {
			for (int x = 0; x < r->dst_w; x++) {
				uint8_t *q = out + 4 * x, a = q[3];
				q[0] = q[0] < a ? q[0] : a;
				q[1] = q[1] < a ? q[1] : a;
				q[2] = q[2] < a ? q[2] : a;
			}
		}
	}
}
