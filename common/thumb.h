/*
 * thumb: thumbnails. The only module that includes gd.h and jpeglib.h.
 *
 * mr_thumb_generate decodes one image once and makes any number of
 * thumbnails from it, in a child process under rlimits and a seccomp
 * filter, so that a decoder crash, hang or bomb costs only the child.
 * Before forking, the header is probed (common/image.h) and the pixel
 * limits are applied, so oversized images are refused without decoding.
 *
 * Planning (which size, which box, whether the original already fits) is
 * pure and lives in mr_thumb_plan / mr_thumb_pick, table-tested.
 *
 * Ownership: results hold malloc'ed bytes released by
 * mr_thumb_result_release; nothing else is kept between calls.
 */
#ifndef MR_THUMB_H
#define MR_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"	/* struct mr_thumb_spec, a config value type */
#include "image.h"
#include "util.h"

struct mr_thumb_limits {
	int64_t max_pixels;		/* canvas pixels, checked before decoding */
	int64_t max_animation_pixels;	/* frames x canvas pixels */
	unsigned formats;		/* bits (1u << enum mr_image_format) */
	int jpeg_quality;
	int64_t memory_bytes;		/* address-space limit of the child */
	int64_t time_ms;		/* CPU and wall-clock limit of the child */
};

/* Where a thumbnail comes from in the (oriented) original, and its size. */
struct mr_thumb_plan {
	int use_original;		/* the original already fits the box */
	uint32_t width, height;		/* output size */
	double x0, y0, x1, y1;		/* source box in original pixels */
};

struct mr_thumb_result {
	unsigned char *data;		/* malloc'ed; NULL with use_original */
	size_t len;
	const char *content_type;	/* static; the original's with use_original */
	uint32_t width, height;
	int animated;
	int use_original;		/* serve the original bytes instead */
};

/* Limits of the thumbnail settings in cfg. */
void mr_thumb_limits_from_config(const struct mr_config *cfg,
    struct mr_thumb_limits *lim);

/* Pure: how spec is made from an ow x oh original. Never upscales. */
void mr_thumb_plan(uint32_t ow, uint32_t oh, const struct mr_thumb_spec *spec,
    struct mr_thumb_plan *out);
/*
 * Pure: which of the n configured specs serves a request of w x h with
 * method m: the smallest of the same method at least as large, or n when
 * none is.
 */
size_t mr_thumb_pick(const struct mr_thumb_spec *specs, size_t n, uint32_t w,
    uint32_t h, enum mr_thumb_method m);
/* Pure: the largest spec, of method m when there is one (n must be > 0). */
size_t mr_thumb_pick_fallback(const struct mr_thumb_spec *specs, size_t n,
    enum mr_thumb_method m);

/*
 * Probes buf and checks it against the limits and the format allow-list:
 * 400 M_UNKNOWN for what cannot be thumbnailed (not an image, SVG, a
 * format not allowed), 413 M_TOO_LARGE past max_pixels or
 * max_animation_pixels. remote_media turns 413 into 502, as the spec asks.
 */
int mr_thumb_check(const unsigned char *buf, size_t len,
    const struct mr_thumb_limits *lim, struct mr_image_info *info,
    struct mr_err *err);

/*
 * Makes a thumbnail for each of n specs from the image in buf (decoded
 * once). With animate and an animated GIF, WebP or APNG source, the
 * results are animated WebP; otherwise stills: JPEG when opaque, PNG with
 * alpha. A spec the original already fits gets use_original, unless the
 * original's format is not one clients may be sent (BMP, TIFF, ...) or it
 * is animated and animate is off: then it is re-encoded at its own size.
 */
int mr_thumb_generate(const unsigned char *buf, size_t len,
    const struct mr_thumb_spec *specs, size_t n, int animate,
    const struct mr_thumb_limits *lim, struct mr_thumb_result *results,
    struct mr_err *err);
void mr_thumb_result_release(struct mr_thumb_result *r);

#endif
