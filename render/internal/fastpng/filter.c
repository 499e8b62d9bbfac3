// PNG row filters (PNG spec §9): undoing them after inflating, and
// choosing and applying them before deflating. Rows are n bytes of
// samples, bpp bytes per pixel; a filtered row has its filter type byte
// first.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "filter.h"

static inline uint8_t paeth(int a, int b, int c) {
	int p = a + b - c;
	int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
	if (pa <= pb && pa <= pc) {
		return (uint8_t)a;
	}
	return (uint8_t)(pb <= pc ? b : c);
}

static inline uint8_t paeth_pred(int a, int b, int c) {
	int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
	// photos make the choice unpredictable: masks, not branches
	int mbc = -(pb <= pc), ma = -((pa <= pb) & (pa <= pc));
	return (uint8_t)((a & ma) | (((b & mbc) | (c & ~mbc)) & ~ma));
}

// paeth_rowK undoes the Paeth filter of a row after the first for K bytes
// per pixel, keeping the left and upper-left pixels in registers (the
// dependency on the pixel just written is what bounds the speed).
#define PAETH_ROW(K)                                                          \
	static void paeth_row##K(uint8_t *row, const uint8_t *up, long n) {       \
		int a[K], c[K];                                                       \
		for (int k = 0; k < K; k++) {                                         \
			a[k] = row[k] = (uint8_t)(row[k] + up[k]);                        \
			c[k] = up[k];                                                     \
		}                                                                     \
		for (long i = K; i + K <= n; i += K) {                                \
			for (int k = 0; k < K; k++) {                                     \
				int b = up[i + k];                                            \
				a[k] = row[i + k] = (uint8_t)(row[i + k] + paeth_pred(a[k], b, c[k])); \
				c[k] = b;                                                     \
			}                                                                 \
		}                                                                     \
	}
PAETH_ROW(3)
PAETH_ROW(4)

// paeth_row is the same for any bpp.
static void paeth_row(uint8_t *row, const uint8_t *up, long n, int bpp) {
	if (n % bpp == 0 && n >= bpp) {
		if (bpp == 4) {
			paeth_row4(row, up, n);
			return;
		}
		if (bpp == 3) {
			paeth_row3(row, up, n);
			return;
		}
	}
	for (long i = 0; i < bpp && i < n; i++) {
		row[i] = (uint8_t)(row[i] + up[i]);
	}
	for (long i = bpp; i < n; i++) {
		row[i] = (uint8_t)(row[i] + paeth_pred(row[i - bpp], up[i], up[i - bpp]));
	}
}

int ipsd_png_unfilter(uint8_t *buf, long rows, long n, int bpp) {
	const long stride = n + 1;
	for (long y = 0; y < rows; y++) {
		uint8_t *row = buf + y * stride + 1;
		const uint8_t *up = y > 0 ? buf + (y - 1) * stride + 1 : NULL;
		int f = row[-1];
		if (!up && (f == 2 || f == 4)) {
			f = f == 2 ? 0 : 1; // on the first row, Up adds nothing and Paeth is Sub
		}
		switch (f) {
		case 0:
			break;
		case 1:
			for (long i = bpp; i < n; i++) {
				row[i] = (uint8_t)(row[i] + row[i - bpp]);
			}
			break;
		case 2:
			for (long i = 0; i < n; i++) {
				row[i] = (uint8_t)(row[i] + up[i]);
			}
			break;
		case 3:
			if (!up) {
				for (long i = bpp; i < n; i++) {
					row[i] = (uint8_t)(row[i] + (row[i - bpp] >> 1));
				}
				break;
			}
			for (long i = 0; i < bpp && i < n; i++) {
				row[i] = (uint8_t)(row[i] + (up[i] >> 1));
			}
			for (long i = bpp; i < n; i++) {
				row[i] = (uint8_t)(row[i] + ((row[i - bpp] + up[i]) >> 1));
			}
			break;
		case 4:
			paeth_row(row, up, n, bpp);
			break;
		default:
			return -1;
		}
	}
	return 0;
}

// filter_row writes row (n bytes, prior row up or NULL) filtered with type
// f into out (n bytes) and returns the sum of the filtered bytes taken as
// signed values, the heuristic PNG encoders use to pick a filter.
static long filter_row(uint8_t *out, const uint8_t *row, const uint8_t *up, long n, int bpp, int f) {
	long sum = 0;
	for (long i = 0; i < n; i++) {
		int a = i >= bpp ? row[i - bpp] : 0, b = up ? up[i] : 0, c = i >= bpp && up ? up[i - bpp] : 0;
		uint8_t v = row[i];
		switch (f) {
		case 1: v = (uint8_t)(v - a); break;
		case 2: v = (uint8_t)(v - b); break;
		case 3: v = (uint8_t)(v - ((a + b) >> 1)); break;
		case 4: v = (uint8_t)(v - paeth(a, b, c)); break;
		}
		out[i] = v;
		sum += v < 128 ? v : 256 - v;
	}
	return sum;
}

void ipsd_png_filter(uint8_t *out, const uint8_t *pix, long stride, long rows, long n, int bpp, uint8_t *scratch) {
	for (long y = 0; y < rows; y++) {
		const uint8_t *row = pix + y * stride, *up = y > 0 ? row - stride : NULL;
		uint8_t *o = out + y * (n + 1);
		long best = filter_row(o + 1, row, up, n, bpp, 0);
		o[0] = 0;
		for (int f = 1; f <= 4; f++) {
			long s = filter_row(scratch, row, up, n, bpp, f);
			if (s < best) {
				best = s;
				o[0] = (uint8_t)f;
				memcpy(o + 1, scratch, n);
			}
		}
	}
}
