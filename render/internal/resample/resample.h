// The arguments of ipsd_resize_rows (resample.c), filled in by resample.go.
#include <stdint.h>

struct ipsd_resize {
	const uint8_t *src; // first source row; samples interleaved, ch per pixel
	long src_stride;
	uint8_t *dst; // first output row
	long dst_stride;
	int dst_w; // output pixels per row
	int ch, premultiply, wide;
	int col0, cols; // the source columns the output reads: [col0, col0+cols)

	const int64_t *ystart; // per output row: its first source row
	const int32_t *yw;     // per output row: ytaps weights
	int ytaps;
	const int16_t *yw16; // the same, yptaps (ytaps made even) per row, zero-padded
	int yptaps;

	const int64_t *xstart; // per output column: its first source column, minus col0
	const int32_t *xw;
	int xtaps;
	const int16_t *xw16; // xptaps per column: a multiple of 8 for ch 1, even otherwise
	int xptaps;
};

void ipsd_resize_rows(const struct ipsd_resize *r, int y0, int y1, int16_t *mid);
