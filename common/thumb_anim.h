/*
 * thumb_anim: frame-by-frame decoding of animated GIF, WebP and APNG, and
 * an animated WebP encoder, for animated thumbnails (MSC2705).
 *
 * Memory: decoding never holds more than a few canvases (the composited
 * canvas, one saved canvas for "restore previous" disposal, one frame
 * buffer) plus the decoder's own state. Each finished canvas goes to a
 * callback and is overwritten by the next, so a long animation costs
 * time, not memory; the caller resizes and encodes as frames arrive.
 *
 * Ownership: the caller owns buf for the whole call; the canvas handed to
 * the callback belongs to the decoder and is valid only during the call.
 * The encoder owns its libwebp state until mr_thumb_anim_encoder_free;
 * the bytes from mr_thumb_anim_encoder_finish are malloc'ed and the
 * caller frees them.
 *
 * Limits: mr_thumb_anim_decode refuses with 413 M_TOO_LARGE, before the
 * pixels are allocated or decoded, any canvas over max_canvas_pixels, and
 * stops as soon as the frames seen so far pass max_frames or their
 * frames x canvas pixels pass max_total_pixels (header claims such as
 * acTL num_frames are checked up front, then the real count as frames
 * arrive). A GIF frame rectangle larger than the canvas is charged at
 * its own size, since it is decoded in full before it is clipped.
 *
 * Everything hostile (truncated, corrupt, lying headers, frames outside
 * the canvas) ends in -1 with 400 M_UNKNOWN "cannot decode <format>: ...";
 * nothing aborts, and every path frees what it allocated.
 */
#ifndef MR_THUMB_ANIM_H
#define MR_THUMB_ANIM_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/*
 * One composited full-canvas frame: width * height RGBA pixels, not
 * premultiplied, stride width * 4. duration_ms is how long it shows.
 * Return 0 to go on, or -1 with err set to stop the decode, which then
 * returns -1 with that err.
 */
typedef int (*mr_thumb_anim_frame_fn)(void *arg, const uint8_t *rgba,
    uint32_t width, uint32_t height, int duration_ms, struct mr_err *err);

enum mr_thumb_anim_kind {
	MR_THUMB_ANIM_GIF,
	MR_THUMB_ANIM_WEBP,
	MR_THUMB_ANIM_APNG
};

struct mr_thumb_anim_limits {
	uint32_t max_frames;
	uint64_t max_total_pixels;	/* frames x canvas pixels */
	uint32_t max_canvas_pixels;
};

/*
 * Decodes every frame of the animation in buf[0..len) and calls fn for
 * each, in order. A still image of the kind decodes as one frame (a PNG
 * without acTL, a GIF with one image, a still WebP). Returns the number
 * of frames, or -1 with err: 400 M_UNKNOWN "cannot decode ...", 413
 * M_TOO_LARGE past a limit, 500 when memory runs out, or fn's err.
 *
 * *loop_count (when not NULL) gets the total number of plays, 0 meaning
 * forever, as WebP and APNG store it. GIF stores repetitions after the
 * first play, so a NETSCAPE2.0 value n > 0 becomes n + 1 and a GIF
 * without the block plays once (1), as browsers and gif2webp read it.
 * It is written as soon as the file gives it, so a callback creating an
 * encoder on the first frame can read it: WebP and APNG always say it
 * before any frame, a GIF when its NETSCAPE2.0 block comes before the
 * first image (where encoders put it). It may change even on failure.
 *
 * Durations: GIF delays of 0 or 1 centisecond become 100 ms, as browsers
 * show them; APNG delays are delay_num / delay_den seconds rounded to
 * the millisecond (den 0 means 100); WebP durations are as stored. A
 * PNG without acTL gets 100 ms.
 */
int mr_thumb_anim_decode(enum mr_thumb_anim_kind kind,
    const unsigned char *buf, size_t len,
    const struct mr_thumb_anim_limits *lim, int *loop_count,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err);

/*
 * Animated WebP encoder over RGBA frames of one size, lossy at quality
 * (0..100) with lossless alpha. The output depends only on the frames,
 * durations and settings, so equal input gives equal bytes. Sides are
 * 1..16383 (WebP's limit), loop_count 0..65535 (0 = forever), durations
 * 0..16777215 ms (WebP stores 24 bits). Errors are 500 M_UNKNOWN.
 */
struct mr_thumb_anim_encoder;

int mr_thumb_anim_encoder_new(struct mr_thumb_anim_encoder **out,
    uint32_t width, uint32_t height, int loop_count, int quality,
    struct mr_err *err);
/* rgba is width * height * 4 bytes, stride width * 4; copied, not kept. */
int mr_thumb_anim_encoder_add(struct mr_thumb_anim_encoder *enc,
    const uint8_t *rgba, int duration_ms, struct mr_err *err);
/*
 * Assembles the file; *data is malloc'ed (the caller frees it). At least
 * one frame must have been added. The encoder accepts nothing after
 * this, but must still be freed.
 */
int mr_thumb_anim_encoder_finish(struct mr_thumb_anim_encoder *enc,
    unsigned char **data, size_t *len, struct mr_err *err);
/* NULL is fine. */
void mr_thumb_anim_encoder_free(struct mr_thumb_anim_encoder *enc);

#endif
