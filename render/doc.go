// Package render implements the Image Serving modifier language of
// copyImage: Parse turns a urlModifier string into a Request, and Render
// runs a source file through decode → geometry → sharpen → encode.
//
// This package exists for ipsd; its API may change without notice.
//
// # Parsing
//
// Modifiers are split on '&'; names are case-insensitive; values are
// percent-decoded before they are parsed (qlt=90%2C0 is qlt=90,0), keyword
// values are case-insensitive, reals may start with a dot (.9), and the last
// of duplicate commands wins (crop and cropN count as one command, as do
// extend and extendN). Commands starting with '.' are comments. Every
// command of the Image Serving reference is recognised: implemented ones
// are parsed strictly; id, cache, req=img, layer=comp, anchor(N), pos(N),
// origin(N), bfc and network are accepted and have no effect; commands
// that need layers, text, templates, a catalog or an output profile (src,
// mask, text, template, $macro$, defaultImage, res, icc, ...) are refused
// as "not supported by ipsd". Anything else is an unknown command. fit=
// without wid or hei, and quantize=mac with an -alpha format, are errors.
//
// # Pipeline
//
// The source is sniffed by content, its size read from the header and
// checked against Limits.MaxSourcePixels, then decoded: JPEG by
// libjpeg-turbo (image/jpeg for CMYK and YCCK, and for files libjpeg-turbo
// finds corrupt, which then fail unless image/jpeg reads them: ipsd does
// not copy half-garbled photos), PNG by image/png (gAMA is not applied, as
// libvips does not; what libpng skips as benign errors is skipped too: an
// ancillary chunk with a wrong CRC, a tRNS of the wrong length, a second
// tRNS or one after IDAT, an iCCP after PLTE), GIF by image/gif (the first frame, on
// its logical screen), WebP by libwebp (animations are refused), TIFF and
// BMP by golang.org/x/image (the spare byte of a 32-bit BMP is not alpha).
// An embedded ICC profile (JPEG APP2, PNG iCCP, WebP ICCP, TIFF tag 34675)
// is converted to sRGB with Little CMS, relative colorimetric, no black
// point compensation; CMYK and YCCK JPEGs without one use ghostscript's
// default_cmyk.icc when the system has it (Debian libgs-common), else the
// naïve conversion; a profile that is sRGB already, unreadable, or does
// not match the pixels is ignored. The EXIF Orientation of IFD0 (JPEG
// APP1, PNG eXIf, WebP EXIF, TIFF IFD0) is applied on load and never
// written out; crop= and cropN= are read in the upright frame.
//
// Requests with only crop, quarter-turn rotate, flip and view commands
// are done as one resampling of the source, computed only where the view
// shows it (a crop reaching outside the source that is also scaled takes
// the composite path below, so that the edge blends into the overhang at
// its exact position). Any other layer or composite command builds the composite at
// full resolution first, in this order (image-serving.md §3): crop/cropN
// (overhang transparent), size or scale (size wins), opac, the color=
// fill, rotate, extend/extendN (after rotate; negative values crop),
// the bgColor= fill, flip, then the composite operations op_brightness,
// op_contrast, op_colorbalance, op_hue, op_saturation, op_colorize,
// op_invert, op_blur, op_grow, op_noise. The view transform follows (rgn,
// scl, wid, hei, fit, align, dpr, rect), then op_sharpen and
// op_usm/op_usmR on the view, flattening onto bgc for formats without
// alpha, and encoding. Every size on the way is worked out and checked
// against Limits before a pixel is touched.
//
// # Decisions on open questions (image-serving.md §7)
//
// Each is pinned by the subtest of TestOpenQuestions with its number.
//
//  1. wid and/or hei without fit= enlarge small sources (fixed width or
//     height, as the reference reads; both together behave as fit=fit,1).
//  2. With fit= the upscale flag defaults to 0 for every mode, the
//     documented fit=fit,0: factors are clamped to 1 (stretch clamps each
//     axis). With only one of wid and hei, the output is the scaled
//     composite: no padding, align ignored, for every fit mode.
//  3. rotate is applied before flip (flip works on the composite, after
//     extend).
//  4. The composite operations run in the order above: brightness and
//     contrast first (op_colorize's page treats them as prior
//     adjustments), opac before the fills because it never changes them.
//  5. op_usm and op_usmR radii are in output pixels (Adobe's own guidance
//     of 0.2–0.3 px for web output only makes sense so); sigma = radius,
//     threshold in 0..255 levels. op_sharpen is a light 3×3 sharpen.
//  6. Computed sizes and offsets are rounded half up; a size is at least 1.
//     cropN edges are rounded separately, so adjacent cropN tiles abut. A
//     rotated canvas is the rotated bounding box rounded half up.
//  7. Unknown commands and invalid values are errors (*CommandError, a
//     30001 fault): strict mode only.
//  8. There is no DefaultPix or MaxPix, and no 16 MP render cap: without
//     wid, hei or scl the output is the composite's size. Only Limits
//     bound it.
//  9. EXIF orientation is applied on load (above).
//
// Further choices the reference leaves open:
//   - layer=0 is refused like any other layer (image-serving.md §5 would
//     accept it alone, but commands after it would then be layer-0
//     commands, with flip before rotate); only layer=comp is accepted.
//   - rgn= is the region of the composite that the view transform scales
//     and places as if it were the whole composite (rgn before scaling, as
//     the view-transform page's order is a doc slip); where the view is
//     larger, the rest of the composite shows around it, and bgc beyond
//     the composite.
//   - rect=x,y,w,h,s cuts the tile from the view scaled by s; outside it
//     is bgc (or transparent for -alpha formats).
//   - dpr=on,N multiplies wid and hei (and divides scl) by N; dpr=on alone
//     is 1.
//   - rotate by any angle turns clockwise about the centre with the
//     resMode kernel; new corners are transparent, then color/bgColor/bgc.
//   - op_brightness and op_colorbalance add adj % of full scale; op_contrast
//     is a line through mid-grey of slope tan(π(1+adj/100)/4) (both as
//     ImageMagick's -brightness-contrast); op_hue and op_saturation work in
//     HSL (as ImageMagick's -modulate); op_colorize tints by Rec. 601
//     luminance (black stays black, mid-grey becomes the colour, white
//     stays white), norm maps the median luminance to 50 % with a gamma
//     curve and contrast steepens it; op_blur is a Gaussian of sigma =
//     radius; op_grow a square max/min filter of half-width |radius|;
//     op_noise adds uniform (±amount %) or Gaussian (sigma amount/2 %)
//     noise from a fixed seed, so output is reproducible; opac scales
//     alpha by opacity×fillOpacity.
//
// # Colour, alpha and quality
//
// Resampling works on premultiplied 8-bit RGBA (planar YCbCr straight
// from the JPEG decoder where no RGB step comes first), in the source's
// encoding (not linear light), widening the kernel by the reduction
// factor. resMode maps to kernels once, for every scaling step: bilin and
// trilin → bilinear (ImageMagick's Triangle), bicub and bisharp →
// Catmull-Rom (Catrom), sharp2, sharp and the default → Lanczos-3
// (Lanczos). Output formats without alpha (jpeg, and png,
// gif, tif, webp without -alpha) are flattened onto bgc, white by default.
// Without fmt= the output keeps the source format and, where the format
// can hold it, the source's transparency. qlt is the libjpeg/libwebp
// quality 1..100, default 80; fmt=webp,,lossless ignores it. pjpeg uses
// libjpeg's default progressive script with pscan=auto; pscan=3|4|5 is
// that many refinement passes: the DC of all components, then the luma
// AC coefficients in pscan−1 spectral bands, with each chroma component's
// AC in the first of them (pscan+2 scans for colour, as AC scans hold
// one component each; pscan scans for grey). The coefficients are those
// of fmt=jpeg at the same qlt, so the pixels are too. jpegSize
// lowers the JPEG quality (binary search) until the file fits, and fails
// when quality 1 does not. gif, png8 and their -alpha forms are
// palettised by quantize= (adaptive: median cut with the forced colours
// first; web: the 216 web-safe colours; mac: the Mac OS system palette;
// diffuse: Floyd–Steinberg; -alpha keeps pixels at least half opaque).
// TIFF is written by ipsd (RGB, RGBA with unassociated alpha, or grey;
// none, LZW and Deflate with the horizontal predictor, or JPEG as one
// YCbCr strip from libjpeg-turbo, 4:2:0, or 4:4:4 with qlt's chroma
// flag). fmt=png-alpha,gray is written as RGBA with grey colours
// (image/png has no grey+alpha encoder). printRes writes JFIF density,
// PNG pHYs or TIFF resolution; iccEmbed=1 embeds Little CMS's sRGB
// profile (JPEG, PNG, TIFF); xmpEmbed=1 copies the source's XMP with
// tiff:Orientation reset to 1 (JPEG, PNG, TIFF).
//
// # Faults and limits
//
// Parse returns a *CommandError for anything wrong with the modifier (the
// daemon's 30001 fault); Render returns a *LimitError for a source over
// Limits.MaxSourcePixels (read from the header of every format before a
// pixel buffer exists), an output or intermediate image over
// Limits.MaxOutputPixels (worked out before rendering), or a WebP side
// over 16383, and a one-line error for a source that cannot be decoded
// (the daemon's 30000). A panic in a decoder becomes an error. The output
// is written to the io.Writer in one piece at the end, so a failed render
// writes nothing. Memory grows with the pixels a source declares, within
// the limits, never with what a corrupt file claims (TestBadCorpusMemory
// states and checks the bound). A JPEG of more than 500 scans is refused
// before decoding (each scan is a pass over every block), and op_blur,
// op_grow and op_usm stop when the context is done.
package render
