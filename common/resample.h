/*
 * resample: Lanczos-3 resizing of interleaved 8-bit RGB and RGBA images for
 * thumbnails. The arithmetic is Pillow's (Image.resize(..., LANCZOS), which
 * Synapse uses): the same coefficient windows, the same 22-bit fixed point,
 * horizontal pass first, RGBA premultiplied on the way in and divided back
 * on the way out, so our thumbnails are byte-for-byte what Synapse makes.
 *
 * Ownership: the caller owns both images; mr_resample only reads src and
 * writes dst's pixels. It allocates its scratch (coefficient tables, one
 * intermediate of dst width by the source rows the box needs, and a strip
 * of 8 source rows) and frees it before returning.
 *
 * Limits: each side at most MR_RESAMPLE_MAX_SIDE pixels; src and dst have
 * the same channel count. Upscaling works but no caller needs it.
 */
#ifndef MR_RESAMPLE_H
#define MR_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Keeps every window bound and coefficient index inside an int. */
#define MR_RESAMPLE_MAX_SIDE (1u << 24)

/*
 * Interleaved 8-bit pixels; channels is 3 (RGB) or 4 (RGBA, not
 * premultiplied, in and out). stride is the distance between rows in
 * bytes, at least width * channels.
 */
struct mr_resample_image {
	uint8_t *pixels;
	uint32_t width, height;
	size_t stride;
	int channels;
};

/*
 * Resamples the box [x0,x1) x [y0,y1) of src, in source pixel coordinates
 * that may be fractional (Pillow's resize(box=...)), into the whole of dst
 * with a Lanczos-3 filter whose support widens with the reduction. The box
 * must be non-empty and inside src. Returns 0, or -1 with 500 M_UNKNOWN on
 * bad arguments or allocation failure (dst is then undefined).
 */
int mr_resample(const struct mr_resample_image *src, double x0, double y0,
    double x1, double y1, struct mr_resample_image *dst, struct mr_err *err);

#endif
