/*
 * image: sniffs an image format from its magic numbers and reads size,
 * frame count, alpha and EXIF orientation from the headers alone, so that
 * the caller can refuse a decompression bomb before any decoder runs.
 *
 * Contract:
 * - The declared Content-Type is never consulted; only the bytes decide.
 * - mr_image_probe reads buf[0..len) and nothing else. It does not keep
 *   the pointer, allocate, or touch global state, so it is safe on any
 *   thread and on any bytes. The caller owns buf and out.
 * - Every read checks the bytes left first. Work is linear in len: each
 *   walk (JPEG markers, PNG chunks, GIF blocks, RIFF chunks, ISOBMFF
 *   boxes) moves forward by at least one byte per step, and the EXIF and
 *   TIFF readers look at IFD0 only, so offset loops cannot happen. The
 *   SVG sniff looks at the first MR_IMAGE_SVG_WINDOW bytes only.
 * - buf should be the whole file. A prefix works when every header the
 *   format needs (JPEG segments up to SOF, PNG chunks up to IDAT, ...)
 *   lies inside it; GIF and animated WebP count the frames seen so far.
 * - Probing is not judging: a PNG that claims 50000x50000 probes fine and
 *   reports it. Refusing sizes, frame counts and formats is the caller's
 *   job (see mr_image_format_from_name for config allow-lists).
 * - Zero width or height is an error for every format except SVG, which
 *   is only recognised (width = height = 0) so the caller can refuse it.
 */
#ifndef MR_IMAGE_H
#define MR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* How far into a text file the SVG sniff looks for "<svg". */
#define MR_IMAGE_SVG_WINDOW 4096

enum mr_image_format {
	MR_IMAGE_UNKNOWN,
	MR_IMAGE_JPEG,
	MR_IMAGE_PNG,
	MR_IMAGE_GIF,
	MR_IMAGE_WEBP,
	MR_IMAGE_BMP,
	MR_IMAGE_TIFF,
	MR_IMAGE_AVIF,
	MR_IMAGE_HEIF,
	MR_IMAGE_SVG
};

struct mr_image_info {
	enum mr_image_format format;
	/*
	 * The canvas: JPEG SOF, PNG IHDR, GIF logical screen, WebP canvas,
	 * BMP absolute size, TIFF IFD0, HEIF/AVIF the largest 'ispe' (see
	 * image.c for why the largest). Frame rectangles do not change it.
	 * Where a decoder would read a repeated field (TIFF tags, HEIF
	 * 'meta' boxes) differently from a plain walk, the probe fails
	 * rather than report a size the decoder may not use.
	 */
	uint32_t width, height;
	/*
	 * 1 for stills. GIF: image descriptors counted by walking the
	 * blocks; APNG: acTL num_frames; animated WebP: ANMF chunks.
	 */
	uint32_t frames;
	/* GIF with more than one frame, PNG with acTL, WebP VP8X anim flag. */
	int animated;
	/*
	 * PNG colour type 4/6 or tRNS; WebP VP8X alpha flag or VP8L alpha
	 * hint; GIF graphic control extension with the transparency flag;
	 * 32-bit BMP with a non-zero alpha mask; TIFF ExtraSamples 1 or 2.
	 */
	int has_alpha;
	/* JPEG APP1 Exif IFD0 tag 0x0112, 1..8; 1 when absent or invalid. */
	int orientation;
	/*
	 * JPEG: components in SOF (4 is CMYK or YCCK). PNG: channels after
	 * palette expansion, not counting tRNS (grey 1, grey+alpha 2, RGB
	 * and palette 3, RGBA 4). Otherwise 0.
	 */
	int components;
	/* PNG bit depth, JPEG sample precision; otherwise 0. */
	int bit_depth;
	/* Image data cut short where the walk can tell (GIF frames); the
	 * probe still succeeds, decoders would show a partial image. */
	int truncated;
};

/*
 * Returns 0 with *out filled, or -1 with *out zeroed and err set to
 * 400 M_UNKNOWN and a reason ("not a supported image", "truncated png
 * header", ...). buf may be NULL when len is 0.
 */
int mr_image_probe(const unsigned char *buf, size_t len,
    struct mr_image_info *out, struct mr_err *err);

/* "jpeg", "png", ... as config allow-lists spell them; "unknown" else. */
const char *mr_image_format_name(enum mr_image_format f);
/* ASCII case-insensitive inverse of the above; MR_IMAGE_UNKNOWN if none. */
enum mr_image_format mr_image_format_from_name(const char *name);
/* "image/jpeg", ...; "application/octet-stream" for MR_IMAGE_UNKNOWN. */
const char *mr_image_mime(enum mr_image_format f);

#endif
