#include <stdint.h>

// ipsd_png_unfilter undoes the filters of rows rows of n bytes in place;
// buf holds each row's filter type byte followed by the row. It returns
// -1 for an unknown filter type.
int ipsd_png_unfilter(uint8_t *buf, long rows, long n, int bpp);

// ipsd_png_filter filters rows rows of n bytes (pix, stride apart) into
// out, each row led by the filter type that gives the smallest sum of
// absolute (signed) values. scratch has n bytes.
void ipsd_png_filter(uint8_t *out, const uint8_t *pix, long stride, long rows, long n, int bpp, uint8_t *scratch);
