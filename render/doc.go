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
// of duplicate commands wins (crop and cropN count as one command). Commands
// starting with '.' are comments. Every command of the Image Serving
// reference is recognised: implemented ones are parsed strictly; id, cache,
// req=img, layer=comp, anchor(N), pos(N), origin(N), bfc, network and
// dpr=off are accepted and have no effect; commands that need layers, text,
// templates or a catalog are refused as "not supported by ipsd", and known
// commands not implemented yet as "not supported by ipsd yet". Anything
// else is an unknown command.
//
// # Pipeline
//
// The source is sniffed by content, its size read from the header and
// checked against Limits.MaxSourcePixels, then decoded (GIF: first frame).
// The EXIF Orientation of IFD0 (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0)
// is applied on load and never written out; crop= and cropN= are read in
// the upright frame. The order is then the Image Serving one
// (image-serving.md §3): crop, rotate, flip (on the composite, after
// rotate), view transform (scl, wid, hei, fit, align, padding), op_sharpen
// and op_usm on the view, flattening onto bgc for formats without alpha,
// encoding. Orientation, crop, rotate, flip and scaling are done as one
// resampling of the source, computed only where the view shows it.
//
// # Decisions on open questions (image-serving.md §7)
//
//  1. wid and/or hei without fit= enlarge small sources (fixed width or
//     height, as the reference reads); with fit= the upscale flag defaults
//     to 0, the documented fit=fit,0.
//  2. With only one of wid and hei, the output is the scaled composite:
//     no padding, align ignored, for every fit mode.
//  3. rotate is applied before flip (flip works on the composite).
//  4. (op_ colour commands are not implemented yet.)
//  5. op_usm and op_usmR radii are in output pixels (Adobe's own guidance
//     of 0.2–0.3 px for web output only makes sense so); sigma = radius,
//     threshold in 0..255 levels. op_sharpen is a light 3×3 sharpen.
//  6. Computed sizes and offsets are rounded half up; a size is at least 1.
//     cropN edges are rounded separately, so adjacent cropN tiles abut.
//  7. Unknown commands and invalid values are errors (*CommandError).
//  8. There is no DefaultPix or MaxPix: without wid, hei or scl the output
//     is the composite's size. Only Limits bound it.
//
// # Colour, alpha and quality
//
// Resampling works on premultiplied 8-bit RGBA (x/image/draw), in the
// source's encoding (not linear light). resMode maps to kernels: bilin and
// trilin → bilinear, bicub and bisharp → Catmull-Rom, sharp2, sharp and
// the default → Lanczos-3. Crop areas outside the source are transparent.
// Output formats without alpha (jpeg, and png, gif, tif, webp without
// -alpha) are flattened onto bgc, white by default. Without fmt= the output
// keeps the source format and, where the format can hold it, the source's
// transparency. qlt is the libjpeg/libwebp quality 1..100, default 80;
// fmt=webp,,lossless ignores it. GIF output uses a median-cut palette of
// up to 256 colours with Floyd–Steinberg dithering; gif-alpha keeps pixels
// at least half opaque. TIFF output is uncompressed unless fmt=tif,,zip.
package render

// BUG(ipsd): embedded ICC profiles are ignored (decisions.md §7 wants a
// conversion to sRGB); CMYK JPEGs are converted naïvely.

// BUG(ipsd): TIFF output always carries an alpha channel (x/image/tiff has
// no RGB-only writer); for tif it is opaque.
