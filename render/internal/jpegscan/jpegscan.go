// Package jpegscan rewrites a JPEG as a progressive JPEG with a chosen
// number of scans, losslessly: the DCT coefficients are read and written
// back unchanged through libjpeg's transcoding API (jpeg_read_coefficients,
// jpeg_write_coefficients; Debian libjpeg62-turbo-dev), only the scan
// script differs. It serves pscan= (image-serving.md §4.6).
//
// Safety: libjpeg errors longjmp back into the C helper, which frees what
// it allocated and returns the message; no Go pointer is stored in C
// memory, and the output buffer libjpeg allocates is copied to Go and
// freed before returning. Each call has its own libjpeg objects, so
// Progressive is safe for concurrent use.
package jpegscan

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct ipsd_err {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void ipsd_error_exit(j_common_ptr c) {
	struct ipsd_err *e = (struct ipsd_err *)c->err;
	(*c->err->format_message)(c, e->msg);
	longjmp(e->jb, 1);
}

// warnings (corrupt data that libjpeg would work around) are errors here:
// the input is always ipsd's own encoder output
static void ipsd_emit_message(j_common_ptr c, int level) {
	if (level < 0) {
		ipsd_error_exit(c);
	}
}

static void ipsd_output_message(j_common_ptr c) {}

// ipsd_transcode rewrites in[0:n] with the scan script of nscans scans,
// each given as 7 ints: comps_in_scan, component indexes (4), Ss, Se (Ah
// and Al are 0: spectral selection only). On success it returns 0 and a
// malloc'd buffer in *out; otherwise it returns -1 with msg set.
static int ipsd_transcode(const unsigned char *in, unsigned long n, const int *script, int nscans,
		int ncomps, unsigned char **out, unsigned long *outlen, char *msg) {
	struct jpeg_decompress_struct d;
	struct jpeg_compress_struct c;
	struct ipsd_err e;
	jpeg_scan_info *volatile scans = NULL;
	volatile int dinit = 0, cinit = 0;

	*out = NULL;
	*outlen = 0;
	memset(&e, 0, sizeof e);
	d.err = jpeg_std_error(&e.pub);
	c.err = d.err;
	e.pub.error_exit = ipsd_error_exit;
	e.pub.emit_message = ipsd_emit_message;
	e.pub.output_message = ipsd_output_message;
	if (setjmp(e.jb)) {
		strncpy(msg, e.msg, JMSG_LENGTH_MAX - 1);
		if (cinit) jpeg_destroy_compress(&c);
		if (dinit) jpeg_destroy_decompress(&d);
		free((void *)scans);
		if (*out) { free(*out); *out = NULL; }
		*outlen = 0;
		return -1;
	}
	jpeg_create_decompress(&d);
	dinit = 1;
	jpeg_mem_src(&d, in, n);
	jpeg_read_header(&d, TRUE);
	if (d.num_components != ncomps) {
		strncpy(msg, "unexpected number of components", JMSG_LENGTH_MAX - 1);
		jpeg_destroy_decompress(&d);
		return -1;
	}
	jvirt_barray_ptr *coefs = jpeg_read_coefficients(&d);

	scans = calloc(nscans, sizeof(jpeg_scan_info));
	if (scans == NULL) {
		strncpy(msg, "out of memory", JMSG_LENGTH_MAX - 1);
		jpeg_destroy_decompress(&d);
		return -1;
	}
	for (int i = 0; i < nscans; i++) {
		const int *s = script + 7 * i;
		scans[i].comps_in_scan = s[0];
		for (int j = 0; j < 4; j++) scans[i].component_index[j] = s[1 + j];
		scans[i].Ss = s[5];
		scans[i].Se = s[6];
		scans[i].Ah = 0;
		scans[i].Al = 0;
	}

	jpeg_create_compress(&c);
	cinit = 1;
	jpeg_mem_dest(&c, out, outlen);
	jpeg_copy_critical_parameters(&d, &c);
	c.optimize_coding = TRUE;
	c.scan_info = scans;
	c.num_scans = nscans;
	jpeg_write_coefficients(&c, coefs);
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	cinit = 0;
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	dinit = 0;
	free((void *)scans);
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// A Scan is one entry of a scan script: the components it holds and its
// spectral band Ss..Se.
type Scan struct {
	Comps  []int
	Ss, Se int
}

// lumaBands are the spectral bands of the luminance AC coefficients for
// each pass count: pass 1 is the DC scan, each further pass one band.
var lumaBands = map[int][][2]int{
	3: {{1, 5}, {6, 63}},
	4: {{1, 2}, {3, 9}, {10, 63}},
	5: {{1, 2}, {3, 5}, {6, 14}, {15, 63}},
}

// Script returns the scan script of Progressive for an image of ncomps
// components (1 = grey, 3 = YCbCr) refined in passes passes (3, 4 or 5):
// the first pass is the DC of every component in one scan; the luminance
// AC coefficients follow in passes−1 spectral bands, and with the first
// of them each chroma component's AC coefficients in one scan. A grey
// image has passes scans, a colour one passes+2 (AC scans of a
// progressive JPEG hold one component each, ITU T.81 G.1.1.1.1).
func Script(ncomps, passes int) ([]Scan, error) {
	bands, ok := lumaBands[passes]
	if !ok {
		return nil, fmt.Errorf("jpegscan: %d passes; want 3, 4 or 5", passes)
	}
	if ncomps != 1 && ncomps != 3 {
		return nil, fmt.Errorf("jpegscan: %d components; want 1 or 3", ncomps)
	}
	all := make([]int, ncomps)
	for i := range all {
		all[i] = i
	}
	s := []Scan{{Comps: all, Ss: 0, Se: 0}}
	for i, b := range bands {
		s = append(s, Scan{Comps: []int{0}, Ss: b[0], Se: b[1]})
		if i == 0 && ncomps == 3 {
			s = append(s, Scan{Comps: []int{1}, Ss: 1, Se: 63}, Scan{Comps: []int{2}, Ss: 1, Se: 63})
		}
	}
	return s, nil
}

// Progressive returns the JPEG jpeg (ncomps components: 1 or 3) rewritten
// as a progressive JPEG of the given number of passes (see Script), with
// the same coefficients and so the same decoded pixels. Markers other than
// JFIF are not copied.
func Progressive(jpeg []byte, ncomps, passes int) ([]byte, error) {
	script, err := Script(ncomps, passes)
	if err != nil {
		return nil, err
	}
	if len(jpeg) == 0 {
		return nil, errors.New("jpegscan: empty input")
	}
	flat := make([]C.int, 0, 7*len(script))
	for _, s := range script {
		var idx [4]C.int
		for i, c := range s.Comps {
			idx[i] = C.int(c)
		}
		flat = append(flat, C.int(len(s.Comps)), idx[0], idx[1], idx[2], idx[3], C.int(s.Ss), C.int(s.Se))
	}
	in := C.CBytes(jpeg) // libjpeg reads it while Go may move nothing; a C copy keeps the rules simple
	defer C.free(in)
	cscript := C.CBytes(unsafe.Slice((*byte)(unsafe.Pointer(&flat[0])), len(flat)*int(unsafe.Sizeof(flat[0]))))
	defer C.free(cscript)
	var (
		out    *C.uchar
		outlen C.ulong
		msg    [C.JMSG_LENGTH_MAX]C.char
	)
	rc := C.ipsd_transcode((*C.uchar)(in), C.ulong(len(jpeg)), (*C.int)(cscript), C.int(len(script)),
		C.int(ncomps), &out, &outlen, &msg[0])
	if rc != 0 {
		return nil, fmt.Errorf("jpegscan: %s", C.GoString(&msg[0]))
	}
	defer C.free(unsafe.Pointer(out))
	if out == nil || outlen == 0 {
		return nil, errors.New("jpegscan: no output")
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(out)), int(outlen))...), nil
}
