/*
 * thumb_anim: animated GIF (giflib, record by record), WebP (libwebp demux)
 * and APNG (our chunk walk, each frame decoded by libpng as a standalone
 * PNG) composited to full canvases one at a time, and an animated WebP
 * encoder (see thumb_anim.h).
 */
#include "thumb_anim.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>
#include <zlib.h>

/* --- shared: errors, limits, canvases --- */

static int
anim_bad(struct mr_err *err, const char *what, const char *why)
{
	return mr_err_set(err, 400, "M_UNKNOWN", "cannot decode %s: %s", what,
	    why != NULL ? why : "corrupt data");
}

static int
anim_oom(struct mr_err *err, const char *what)
{
	return mr_err_set(err, 500, "M_UNKNOWN", "out of memory decoding %s",
	    what);
}

/*
 * Frames and pixels charged so far. A frame is charged before its pixels
 * are decoded, so a file claiming or holding endless frames stops at the
 * first one past the limit.
 */
struct anim_budget {
	const struct mr_thumb_anim_limits *lim;
	const char *what;
	uint32_t frames;
	uint64_t pixels;	/* never above lim->max_total_pixels */
};

static int
anim_check_canvas(struct anim_budget *b, uint32_t w, uint32_t h,
    struct mr_err *err)
{
	if (w == 0 || h == 0)
		return anim_bad(err, b->what, "empty canvas");
	if ((uint64_t)w * h > b->lim->max_canvas_pixels)
		return mr_err_set(err, 413, "M_TOO_LARGE", "%s canvas %ux%u is "
		    "larger than the limit of %u pixels", b->what, w, h,
		    b->lim->max_canvas_pixels);
	/* Keeps w * h * 4 inside size_t on 32-bit hosts too. */
	if ((uint64_t)w * h > SIZE_MAX / 8)
		return anim_oom(err, b->what);
	return 0;
}

/* Refuses up front what a header says is coming (acTL, WebP frame count). */
static int
anim_check_claim(struct anim_budget *b, uint64_t frames, uint64_t px,
    struct mr_err *err)
{
	const struct mr_thumb_anim_limits *lim = b->lim;

	if (frames > lim->max_frames || (px != 0 &&
	    frames > lim->max_total_pixels / px))
		return mr_err_set(err, 413, "M_TOO_LARGE", "%s has %llu frames "
		    "of %llu pixels, more than the limits allow", b->what,
		    (unsigned long long)frames, (unsigned long long)px);
	return 0;
}

static int
anim_charge(struct anim_budget *b, uint64_t px, struct mr_err *err)
{
	const struct mr_thumb_anim_limits *lim = b->lim;

	if (b->frames >= lim->max_frames)
		return mr_err_set(err, 413, "M_TOO_LARGE", "%s has more than "
		    "%u frames", b->what, lim->max_frames);
	if (px > lim->max_total_pixels - b->pixels)
		return mr_err_set(err, 413, "M_TOO_LARGE", "%s has more than "
		    "%llu pixels in all frames", b->what,
		    (unsigned long long)lim->max_total_pixels);
	b->frames++;
	b->pixels += px;
	return 0;
}

static uint8_t *
anim_canvas(uint32_t w, uint32_t h)
{
	/* Zeroed: every format starts from a transparent canvas. */
	return calloc((size_t)w * h, 4);
}

static void
anim_clear_rect(uint8_t *canvas, uint32_t cw, uint32_t x, uint32_t y,
    uint32_t w, uint32_t h)
{
	for (uint32_t r = 0; r < h; r++)
		memset(canvas + ((size_t)(y + r) * cw + x) * 4, 0, (size_t)w * 4);
}

static void
anim_copy_rect(uint8_t *dst, const uint8_t *src, uint32_t cw, uint32_t x,
    uint32_t y, uint32_t w, uint32_t h)
{
	for (uint32_t r = 0; r < h; r++) {
		size_t o = ((size_t)(y + r) * cw + x) * 4;

		memcpy(dst + o, src + o, (size_t)w * 4);
	}
}

/* --- GIF --- */

/* GIF sides are 16-bit, so one line buffer this long fits any frame. */
#define GIF_MAX_SIDE 65535

struct gif_src {
	const unsigned char *buf;
	size_t len, pos;
};

struct gif_dec {
	GifFileType *gif;
	struct anim_budget budget;
	uint32_t w, h;
	uint8_t *canvas;
	uint8_t *saved;		/* for disposal 3; allocated on first use */
	GifPixelType *line;
	/* From the graphics control extension; they apply to one image. */
	int delay_cs, disposal, transparent;
	int *loop_count;	/* the caller's, or a local when NULL */
	mr_thumb_anim_frame_fn fn;
	void *arg;
};

/* giflib's input callback; a short count makes giflib fail the read. */
static int
gif_read(GifFileType *gif, GifByteType *out, int n)
{
	struct gif_src *s = gif->UserData;
	size_t k = s->len - s->pos;

	if (n <= 0)
		return 0;
	if ((size_t)n < k)
		k = (size_t)n;
	memcpy(out, s->buf + s->pos, k);
	s->pos += k;
	return (int)k;
}

static int
gif_fail(struct gif_dec *d, struct mr_err *err)
{
	return anim_bad(err, "gif", GifErrorString(d->gif->Error));
}

static void
gif_reset_gce(struct gif_dec *d)
{
	d->delay_cs = 0;
	d->disposal = 0;
	d->transparent = -1;
}

static void
gif_parse_gce(struct gif_dec *d, const GifByteType *ext)
{
	if (ext[0] < 4)
		return;
	d->disposal = (ext[1] >> 2) & 7;
	d->delay_cs = ext[2] | ext[3] << 8;
	d->transparent = (ext[1] & 1) ? ext[4] : -1;
}

/* NETSCAPE2.0 sub-block: 1, then the repetition count, little-endian. */
static void
gif_parse_loop(struct gif_dec *d, const GifByteType *sub)
{
	int n;

	if (sub[0] < 3 || (sub[1] & 7) != 1)
		return;
	n = sub[2] | sub[3] << 8;
	/* Repetitions after the first play to total plays, as gif2webp. */
	*d->loop_count = (n == 0 || n == 65535) ? n : n + 1;
}

static int
gif_extension(struct gif_dec *d, struct mr_err *err)
{
	GifByteType *ext;
	int code, app = 0;

	if (DGifGetExtension(d->gif, &code, &ext) == GIF_ERROR)
		return gif_fail(d, err);
	if (ext != NULL && code == GRAPHICS_EXT_FUNC_CODE)
		gif_parse_gce(d, ext);
	if (ext != NULL && code == APPLICATION_EXT_FUNC_CODE && ext[0] == 11 &&
	    (memcmp(ext + 1, "NETSCAPE2.0", 11) == 0 ||
	    memcmp(ext + 1, "ANIMEXTS1.0", 11) == 0))
		app = 1;
	while (ext != NULL) {
		if (DGifGetExtensionNext(d->gif, &ext) == GIF_ERROR)
			return gif_fail(d, err);
		if (ext != NULL && app) {
			gif_parse_loop(d, ext);
			app = 0;
		}
	}
	return 0;
}

/* Puts one decoded row of the frame onto the canvas, clipped. */
static void
gif_put_line(struct gif_dec *d, const ColorMapObject *map, uint32_t row)
{
	const GifImageDesc *id = &d->gif->Image;
	uint32_t y = (uint32_t)id->Top + row, x0 = (uint32_t)id->Left;
	uint8_t *p;

	if (y >= d->h || x0 >= d->w)
		return;
	p = d->canvas + ((size_t)y * d->w + x0) * 4;
	for (uint32_t i = 0; i < (uint32_t)id->Width && x0 + i < d->w;
	    i++, p += 4) {
		int c = d->line[i];

		/* Out-of-map indexes draw nothing rather than reading past. */
		if (c == d->transparent || c >= map->ColorCount)
			continue;
		p[0] = map->Colors[c].Red;
		p[1] = map->Colors[c].Green;
		p[2] = map->Colors[c].Blue;
		p[3] = 255;
	}
}

static int
gif_read_pixels(struct gif_dec *d, const ColorMapObject *map,
    struct mr_err *err)
{
	static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
	const GifImageDesc *id = &d->gif->Image;
	int passes = id->Interlace ? 4 : 1;

	for (int p = 0; p < passes; p++) {
		int y0 = id->Interlace ? start[p] : 0;
		int dy = id->Interlace ? step[p] : 1;

		for (int y = y0; y < id->Height; y += dy) {
			if (DGifGetLine(d->gif, d->line, id->Width) ==
			    GIF_ERROR)
				return gif_fail(d, err);
			gif_put_line(d, map, (uint32_t)y);
		}
	}
	return 0;
}

/* The part of the frame rectangle on the canvas, for disposal. */
static void
gif_clip(const struct gif_dec *d, uint32_t r[4])
{
	const GifImageDesc *id = &d->gif->Image;
	uint32_t x = (uint32_t)id->Left, y = (uint32_t)id->Top;

	r[0] = x < d->w ? x : d->w;
	r[1] = y < d->h ? y : d->h;
	r[2] = x + (uint32_t)id->Width < d->w ? x + (uint32_t)id->Width : d->w;
	r[3] = y + (uint32_t)id->Height < d->h ? y + (uint32_t)id->Height :
	    d->h;
	r[2] -= r[0];
	r[3] -= r[1];
}

static int
gif_start_frame(struct gif_dec *d, const ColorMapObject **map,
    struct mr_err *err)
{
	const GifImageDesc *id;
	uint64_t px;

	if (DGifGetImageDesc(d->gif) == GIF_ERROR)
		return gif_fail(d, err);
	id = &d->gif->Image;
	if (id->Width <= 0 || id->Height <= 0 || id->Left < 0 || id->Top < 0)
		return anim_bad(err, "gif", "empty frame");
	/*
	 * Every row is decoded before it is clipped, so a frame bigger than
	 * the canvas costs its own size.
	 */
	px = (uint64_t)id->Width * (uint64_t)id->Height;
	if (px < (uint64_t)d->w * d->h)
		px = (uint64_t)d->w * d->h;
	if (anim_charge(&d->budget, px, err) < 0)
		return -1;
	*map = id->ColorMap != NULL ? id->ColorMap : d->gif->SColorMap;
	if (*map == NULL)
		return anim_bad(err, "gif", "frame without a colour table");
	if (d->disposal == 3 && d->saved == NULL &&
	    (d->saved = anim_canvas(d->w, d->h)) == NULL)
		return anim_oom(err, "gif");
	if (d->disposal == 3)
		memcpy(d->saved, d->canvas, (size_t)d->w * d->h * 4);
	return 0;
}

static int
gif_frame(struct gif_dec *d, struct mr_err *err)
{
	const ColorMapObject *map = NULL;
	uint32_t r[4];
	int ms;

	if (gif_start_frame(d, &map, err) < 0 ||
	    gif_read_pixels(d, map, err) < 0)
		return -1;
	/* Browsers show 0 and 10 ms delays as 100 ms; so do we. */
	ms = d->delay_cs <= 1 ? 100 : d->delay_cs * 10;
	if (d->fn(d->arg, d->canvas, d->w, d->h, ms, err) < 0)
		return -1;
	gif_clip(d, r);
	/* Clearing to transparent is what browsers do, not the bg colour. */
	if (d->disposal == 2)
		anim_clear_rect(d->canvas, d->w, r[0], r[1], r[2], r[3]);
	else if (d->disposal == 3)
		anim_copy_rect(d->canvas, d->saved, d->w, r[0], r[1], r[2],
		    r[3]);
	gif_reset_gce(d);
	return 0;
}

static int
gif_walk(struct gif_dec *d, struct mr_err *err)
{
	GifRecordType t;

	for (;;) {
		if (DGifGetRecordType(d->gif, &t) == GIF_ERROR)
			return gif_fail(d, err);
		if (t == TERMINATE_RECORD_TYPE)
			break;
		if (t == EXTENSION_RECORD_TYPE && gif_extension(d, err) < 0)
			return -1;
		if (t == IMAGE_DESC_RECORD_TYPE && gif_frame(d, err) < 0)
			return -1;
	}
	if (d->budget.frames == 0)
		return anim_bad(err, "gif", "no frames");
	return (int)d->budget.frames;
}

static int
gif_decode(const unsigned char *buf, size_t len,
    const struct mr_thumb_anim_limits *lim, int *loop_count,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err)
{
	struct gif_src src = { buf, len, 0 };
	struct gif_dec d;
	int e, rc = -1;

	memset(&d, 0, sizeof(d));
	d.budget.lim = lim;
	d.budget.what = "gif";
	d.loop_count = loop_count;
	*d.loop_count = 1;
	d.fn = fn;
	d.arg = arg;
	gif_reset_gce(&d);
	if ((d.gif = DGifOpen(&src, gif_read, &e)) == NULL)
		return anim_bad(err, "gif", GifErrorString(e));
	d.w = (uint32_t)(d.gif->SWidth > 0 ? d.gif->SWidth : 0);
	d.h = (uint32_t)(d.gif->SHeight > 0 ? d.gif->SHeight : 0);
	if (anim_check_canvas(&d.budget, d.w, d.h, err) < 0)
		goto out;
	if ((d.canvas = anim_canvas(d.w, d.h)) == NULL ||
	    (d.line = malloc(GIF_MAX_SIDE + 1)) == NULL) {
		anim_oom(err, "gif");
		goto out;
	}
	rc = gif_walk(&d, err);
out:
	DGifCloseFile(d.gif, &e);
	free(d.canvas);
	free(d.saved);
	free(d.line);
	return rc;
}

/* --- WebP --- */

/*
 * WebPAnimDecoderNew allocates two canvases at once, so the canvas and
 * frame count are read with the demuxer (headers only) and judged first.
 */
static int
webp_check(const WebPData *data, struct anim_budget *b, int *loop_count,
    struct mr_err *err)
{
	WebPDemuxer *dmx;
	uint32_t w, h, n;

	if ((dmx = WebPDemux(data)) == NULL)
		return anim_bad(err, "webp", "truncated or corrupt file");
	w = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
	h = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
	n = WebPDemuxGetI(dmx, WEBP_FF_FRAME_COUNT);
	*loop_count = (int)WebPDemuxGetI(dmx, WEBP_FF_LOOP_COUNT);
	WebPDemuxDelete(dmx);
	if (anim_check_canvas(b, w, h, err) < 0 ||
	    anim_check_claim(b, n, (uint64_t)w * h, err) < 0)
		return -1;
	return 0;
}

static int
webp_frames(WebPAnimDecoder *dec, struct anim_budget *b,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err)
{
	WebPAnimInfo info;
	int prev = 0;

	if (!WebPAnimDecoderGetInfo(dec, &info))
		return anim_bad(err, "webp", NULL);
	while (WebPAnimDecoderHasMoreFrames(dec)) {
		uint8_t *px;
		int ts;

		if (anim_charge(b, (uint64_t)info.canvas_width *
		    info.canvas_height, err) < 0)
			return -1;
		if (!WebPAnimDecoderGetNext(dec, &px, &ts))
			return anim_bad(err, "webp", "corrupt frame");
		/* Timestamps mark each frame's end. */
		if (fn(arg, px, info.canvas_width, info.canvas_height,
		    ts - prev, err) < 0)
			return -1;
		prev = ts;
	}
	if (b->frames == 0)
		return anim_bad(err, "webp", "no frames");
	return (int)b->frames;
}

static int
webp_decode(const unsigned char *buf, size_t len,
    const struct mr_thumb_anim_limits *lim, int *loop_count,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err)
{
	struct anim_budget b = { lim, "webp", 0, 0 };
	WebPData data = { buf, len };
	WebPAnimDecoderOptions opt;
	WebPAnimDecoder *dec;
	int rc;

	if (len == 0)
		return anim_bad(err, "webp", "empty file");
	if (webp_check(&data, &b, loop_count, err) < 0)
		return -1;
	if (!WebPAnimDecoderOptionsInit(&opt))
		return anim_bad(err, "webp", "libwebp version mismatch");
	opt.color_mode = MODE_RGBA;
	/*
	 * One thread: decoding runs in a child under rlimits (DESIGN.md), and
	 * a worker thread would only blur its accounting.
	 */
	opt.use_threads = 0;
	if ((dec = WebPAnimDecoderNew(&data, &opt)) == NULL)
		return anim_bad(err, "webp", "truncated or corrupt file");
	rc = webp_frames(dec, &b, fn, arg, err);
	WebPAnimDecoderDelete(dec);
	return rc;
}

/* --- APNG --- */

#define PNG_TYPE(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | \
	(uint32_t)(d))
#define T_IHDR PNG_TYPE('I', 'H', 'D', 'R')
#define T_IDAT PNG_TYPE('I', 'D', 'A', 'T')
#define T_IEND PNG_TYPE('I', 'E', 'N', 'D')
#define T_acTL PNG_TYPE('a', 'c', 'T', 'L')
#define T_fcTL PNG_TYPE('f', 'c', 'T', 'L')
#define T_fdAT PNG_TYPE('f', 'd', 'A', 'T')

/* PNG's own cap on chunk lengths and sides. */
#define APNG_MAX_U31 0x7fffffffu
/* PLTE, tRNS, gAMA, cHRM, sRGB, iCCP once each, with room for sloppiness. */
#define APNG_MAX_EXTRA 16

static const unsigned char png_sig[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

struct apng_chunk {
	uint32_t type, len;
	const unsigned char *data;
};

struct apng_fctl {
	uint32_t w, h, x, y;
	int ms;
	int dispose, blend;
};

struct apng_dec {
	struct anim_budget budget;
	uint32_t w, h;
	const unsigned char *ihdr;	/* the 13 data bytes in buf */
	struct apng_chunk extra[APNG_MAX_EXTRA];
	int nextra;
	int have_actl, seen_idat;
	/*
	 * in_frame: an fcTL (or, without acTL, the IDAT) opened a frame that
	 * is not yet drawn; from_idat: its data is the IDAT run.
	 */
	int in_frame, from_idat;
	struct apng_fctl fc;
	/* The current frame as a standalone PNG, built as data arrives. */
	unsigned char *png;
	size_t png_len, png_cap;
	uint8_t *canvas, *saved, *frame;
	mr_thumb_anim_frame_fn fn;
	void *arg;
};

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Reads the chunk at *pos; -1 when it does not fit in the buffer. */
static int
apng_next_chunk(const unsigned char *buf, size_t len, size_t *pos,
    struct apng_chunk *c)
{
	if (len - *pos < 12)
		return -1;
	c->len = be32(buf + *pos);
	if (c->len > APNG_MAX_U31 || c->len > len - *pos - 12)
		return -1;
	c->type = be32(buf + *pos + 4);
	c->data = buf + *pos + 8;
	*pos += 12 + (size_t)c->len;
	return 0;
}

static int
apng_reserve(struct apng_dec *d, size_t n, struct mr_err *err)
{
	size_t cap = d->png_cap ? d->png_cap : 4096;
	unsigned char *p;

	/* Bounded by the file: each byte in comes from a chunk of buf. */
	if (n <= d->png_cap - d->png_len)
		return 0;
	while (cap - d->png_len < n)
		cap *= 2;
	if ((p = realloc(d->png, cap)) == NULL)
		return anim_oom(err, "apng");
	d->png = p;
	d->png_cap = cap;
	return 0;
}

static int
apng_put_chunk(struct apng_dec *d, uint32_t type, const unsigned char *data,
    uint32_t n, struct mr_err *err)
{
	unsigned char *p;

	if (apng_reserve(d, 12 + (size_t)n, err) < 0)
		return -1;
	p = d->png + d->png_len;
	put_be32(p, n);
	put_be32(p + 4, type);
	if (n > 0)
		memcpy(p + 8, data, n);
	put_be32(p + 8 + n, (uint32_t)crc32(0, p + 4, 4 + n));
	d->png_len += 12 + (size_t)n;
	return 0;
}

/*
 * Starts the frame's PNG at its first data chunk: by then every chunk that
 * may precede IDAT has been seen. IHDR takes the frame's size.
 */
static int
apng_begin_png(struct apng_dec *d, struct mr_err *err)
{
	unsigned char ihdr[13];

	memcpy(ihdr, d->ihdr, 13);
	put_be32(ihdr, d->fc.w);
	put_be32(ihdr + 4, d->fc.h);
	d->png_len = 0;
	if (apng_reserve(d, 8, err) < 0)
		return -1;
	memcpy(d->png, png_sig, 8);
	d->png_len = 8;
	if (apng_put_chunk(d, T_IHDR, ihdr, 13, err) < 0)
		return -1;
	for (int i = 0; i < d->nextra; i++)
		if (apng_put_chunk(d, d->extra[i].type, d->extra[i].data,
		    d->extra[i].len, err) < 0)
			return -1;
	return 0;
}

static int
apng_add_data(struct apng_dec *d, const unsigned char *data, uint32_t n,
    struct mr_err *err)
{
	if (d->png_len == 0 && apng_begin_png(d, err) < 0)
		return -1;
	return apng_put_chunk(d, T_IDAT, data, n, err);
}

static int
apng_decode_png(struct apng_dec *d, struct mr_err *err)
{
	png_image img;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, d->png, d->png_len))
		return anim_bad(err, "apng", img.message);
	if (img.width != d->fc.w || img.height != d->fc.h) {
		png_image_free(&img);
		return anim_bad(err, "apng", "frame size mismatch");
	}
	img.format = PNG_FORMAT_RGBA;
	/*
	 * Untagged 16-bit samples are sRGB, as browsers show them; libpng
	 * would otherwise take them as linear and brighten the frame.
	 */
	img.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
	/* finish_read frees img whatever happens. */
	if (!png_image_finish_read(&img, NULL, d->frame,
	    (png_int_32)(d->fc.w * 4), NULL))
		return anim_bad(err, "apng", img.message);
	return 0;
}

/* Porter-Duff "over" on non-premultiplied pixels, as the APNG spec does. */
static void
apng_over(uint8_t *dst, const uint8_t *src)
{
	uint32_t sa = src[3], da = dst[3], a;

	if (sa == 255) {
		memcpy(dst, src, 4);
		return;
	}
	if (sa == 0)
		return;
	a = sa * 255 + da * (255 - sa);	/* out alpha, scaled by 255 */
	for (int i = 0; i < 3; i++)
		dst[i] = (uint8_t)((src[i] * sa * 255 + dst[i] * da * (255 - sa) +
		    a / 2) / a);
	dst[3] = (uint8_t)((a + 127) / 255);
}

static void
apng_blend(struct apng_dec *d)
{
	const struct apng_fctl *f = &d->fc;

	for (uint32_t r = 0; r < f->h; r++) {
		uint8_t *dst = d->canvas + ((size_t)(f->y + r) * d->w + f->x) * 4;
		const uint8_t *src = d->frame + (size_t)r * f->w * 4;

		if (f->blend == 0) {
			memcpy(dst, src, (size_t)f->w * 4);
			continue;
		}
		for (uint32_t i = 0; i < f->w; i++)
			apng_over(dst + i * 4, src + i * 4);
	}
}

/* Decodes, composites and hands over the open frame, then disposes it. */
static int
apng_end_frame(struct apng_dec *d, struct mr_err *err)
{
	const struct apng_fctl *f = &d->fc;

	if (d->png_len == 0)
		return anim_bad(err, "apng", "frame without image data");
	if (apng_put_chunk(d, T_IEND, NULL, 0, err) < 0 ||
	    apng_decode_png(d, err) < 0)
		return -1;
	if (f->dispose == 2 && d->saved == NULL &&
	    (d->saved = anim_canvas(d->w, d->h)) == NULL)
		return anim_oom(err, "apng");
	if (f->dispose == 2)
		anim_copy_rect(d->saved, d->canvas, d->w, f->x, f->y, f->w, f->h);
	apng_blend(d);
	if (d->fn(d->arg, d->canvas, d->w, d->h, f->ms, err) < 0)
		return -1;
	if (f->dispose == 1)
		anim_clear_rect(d->canvas, d->w, f->x, f->y, f->w, f->h);
	else if (f->dispose == 2)
		anim_copy_rect(d->canvas, d->saved, d->w, f->x, f->y, f->w, f->h);
	d->in_frame = 0;
	d->png_len = 0;
	return 0;
}

static int
apng_parse_fctl(struct apng_dec *d, const struct apng_chunk *c,
    struct mr_err *err)
{
	const unsigned char *p = c->data;
	struct apng_fctl *f = &d->fc;
	uint32_t num, den;

	if (c->len != 26)
		return anim_bad(err, "apng", "bad fcTL chunk");
	f->w = be32(p + 4);
	f->h = be32(p + 8);
	f->x = be32(p + 12);
	f->y = be32(p + 16);
	num = (uint32_t)p[20] << 8 | p[21];
	den = (uint32_t)p[22] << 8 | p[23];
	f->dispose = p[24];
	f->blend = p[25];
	if (f->w == 0 || f->h == 0 || f->x > d->w || f->y > d->h ||
	    f->w > d->w - f->x || f->h > d->h - f->y)
		return anim_bad(err, "apng", "frame outside the canvas");
	if (f->dispose > 2 || f->blend > 1)
		return anim_bad(err, "apng", "bad dispose or blend op");
	if (den == 0)
		den = 100;
	f->ms = (int)((num * 1000 + den / 2) / den);
	/* The spec: "previous" on the first frame means "background". */
	if (d->budget.frames == 0 && f->dispose == 2)
		f->dispose = 1;
	return 0;
}

static int
apng_on_fctl(struct apng_dec *d, const struct apng_chunk *c,
    struct mr_err *err)
{
	if (d->in_frame && apng_end_frame(d, err) < 0)
		return -1;
	if (apng_parse_fctl(d, c, err) < 0)
		return -1;
	/* Before IDAT, the fcTL describes the default image, canvas-sized. */
	d->from_idat = !d->seen_idat;
	if (d->from_idat && (d->fc.w != d->w || d->fc.h != d->h))
		return anim_bad(err, "apng", "first frame is not the canvas");
	if (anim_charge(&d->budget, (uint64_t)d->w * d->h, err) < 0)
		return -1;
	d->in_frame = 1;
	return 0;
}

static int
apng_on_idat(struct apng_dec *d, const struct apng_chunk *c,
    struct mr_err *err)
{
	if (!d->seen_idat && !d->have_actl) {
		/* A plain PNG: its image is the one frame. */
		d->fc = (struct apng_fctl){ d->w, d->h, 0, 0, 100, 0, 0 };
		if (anim_charge(&d->budget, (uint64_t)d->w * d->h, err) < 0)
			return -1;
		d->in_frame = d->from_idat = 1;
	}
	d->seen_idat = 1;
	/* Without an fcTL before it, the default image is not animated. */
	if (!d->in_frame || !d->from_idat)
		return d->in_frame ? anim_bad(err, "apng", "misplaced IDAT") : 0;
	return apng_add_data(d, c->data, c->len, err);
}

static int
apng_on_fdat(struct apng_dec *d, const struct apng_chunk *c,
    struct mr_err *err)
{
	if (!d->in_frame || d->from_idat || c->len < 4)
		return anim_bad(err, "apng", "misplaced fdAT");
	/*
	 * CRCs and sequence numbers go unchecked: zlib and libpng catch
	 * damaged data, and frames play in file order anyway.
	 */
	return apng_add_data(d, c->data + 4, c->len - 4, err);
}

static int
apng_on_actl(struct apng_dec *d, const struct apng_chunk *c,
    int *loops, struct mr_err *err)
{
	if (c->len != 8 || d->have_actl || d->seen_idat)
		return anim_bad(err, "apng", "bad acTL chunk");
	if (be32(c->data) == 0)
		return anim_bad(err, "apng", "no frames");
	d->have_actl = 1;
	*loops = be32(c->data + 4) > 65535 ? 65535 : (int)be32(c->data + 4);
	return anim_check_claim(&d->budget, be32(c->data),
	    (uint64_t)d->w * d->h, err);
}

/* The chunks libpng needs to decode a frame, kept when before IDAT. */
static int
apng_is_extra(uint32_t t)
{
	return t == PNG_TYPE('P', 'L', 'T', 'E') ||
	    t == PNG_TYPE('t', 'R', 'N', 'S') ||
	    t == PNG_TYPE('g', 'A', 'M', 'A') ||
	    t == PNG_TYPE('c', 'H', 'R', 'M') ||
	    t == PNG_TYPE('s', 'R', 'G', 'B') ||
	    t == PNG_TYPE('i', 'C', 'C', 'P');
}

static int
apng_chunk(struct apng_dec *d, const struct apng_chunk *c, int *loops,
    struct mr_err *err)
{
	switch (c->type) {
	case T_acTL:
		return apng_on_actl(d, c, loops, err);
	case T_fcTL:
		/* Without acTL the file is a plain PNG; fcTL means nothing. */
		return d->have_actl ? apng_on_fctl(d, c, err) : 0;
	case T_IDAT:
		return apng_on_idat(d, c, err);
	case T_fdAT:
		return d->have_actl ? apng_on_fdat(d, c, err) : 0;
	case T_IHDR:
		return anim_bad(err, "apng", "second IHDR");
	}
	if (!d->seen_idat && apng_is_extra(c->type)) {
		if (d->nextra == APNG_MAX_EXTRA)
			return anim_bad(err, "apng", "too many chunks");
		d->extra[d->nextra++] = *c;
	}
	return 0;
}

static int
apng_walk(struct apng_dec *d, const unsigned char *buf, size_t len,
    size_t pos, int *loops, struct mr_err *err)
{
	struct apng_chunk c;

	for (;;) {
		if (apng_next_chunk(buf, len, &pos, &c) < 0)
			return anim_bad(err, "apng", "truncated file");
		if (c.type == T_IEND)
			break;
		if (apng_chunk(d, &c, loops, err) < 0)
			return -1;
	}
	if (d->in_frame && apng_end_frame(d, err) < 0)
		return -1;
	if (d->budget.frames == 0)
		return anim_bad(err, "apng", "no frames");
	return (int)d->budget.frames;
}

/* Reads the signature and IHDR; *pos moves past them. */
static int
apng_header(struct apng_dec *d, const unsigned char *buf, size_t len,
    size_t *pos, struct mr_err *err)
{
	struct apng_chunk c;

	if (len < 8 || memcmp(buf, png_sig, 8) != 0)
		return anim_bad(err, "apng", "not a png file");
	*pos = 8;
	if (apng_next_chunk(buf, len, pos, &c) < 0 || c.type != T_IHDR ||
	    c.len != 13)
		return anim_bad(err, "apng", "bad IHDR chunk");
	d->ihdr = c.data;
	d->w = be32(c.data);
	d->h = be32(c.data + 4);
	if (d->w > APNG_MAX_U31 || d->h > APNG_MAX_U31)
		return anim_bad(err, "apng", "bad IHDR chunk");
	if (anim_check_canvas(&d->budget, d->w, d->h, err) < 0)
		return -1;
	if ((d->canvas = anim_canvas(d->w, d->h)) == NULL ||
	    (d->frame = malloc((size_t)d->w * d->h * 4)) == NULL)
		return anim_oom(err, "apng");
	return 0;
}

static int
apng_decode(const unsigned char *buf, size_t len,
    const struct mr_thumb_anim_limits *lim, int *loop_count,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err)
{
	struct apng_dec d;
	size_t pos;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	d.budget.lim = lim;
	d.budget.what = "apng";
	d.fn = fn;
	d.arg = arg;
	/* A plain PNG plays once; acTL may say otherwise. */
	*loop_count = 1;
	if (apng_header(&d, buf, len, &pos, err) == 0)
		rc = apng_walk(&d, buf, len, pos, loop_count, err);
	free(d.canvas);
	free(d.saved);
	free(d.frame);
	free(d.png);
	return rc;
}

int
mr_thumb_anim_decode(enum mr_thumb_anim_kind kind, const unsigned char *buf,
    size_t len, const struct mr_thumb_anim_limits *lim, int *loop_count,
    mr_thumb_anim_frame_fn fn, void *arg, struct mr_err *err)
{
	int loops;

	if (lim == NULL || fn == NULL || (buf == NULL && len > 0))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "bad arguments to animation decoder");
	if (buf == NULL)
		buf = (const unsigned char *)"";
	if (loop_count == NULL)
		loop_count = &loops;
	switch (kind) {
	case MR_THUMB_ANIM_GIF:
		return gif_decode(buf, len, lim, loop_count, fn, arg, err);
	case MR_THUMB_ANIM_WEBP:
		return webp_decode(buf, len, lim, loop_count, fn, arg, err);
	case MR_THUMB_ANIM_APNG:
		return apng_decode(buf, len, lim, loop_count, fn, arg, err);
	}
	return mr_err_set(err, 500, "M_UNKNOWN", "unknown animation kind");
}

/* --- animated WebP encoder --- */

/* WebP frame durations are 24-bit. */
#define ENC_MAX_DURATION 0xffffff

struct mr_thumb_anim_encoder {
	WebPAnimEncoder *enc;
	WebPConfig config;
	uint32_t width, height;
	int64_t timestamp_ms;	/* start of the next frame */
	int frames;
	int finished;
};

static int
enc_fail(struct mr_err *err, const char *why)
{
	return mr_err_set(err, 500, "M_UNKNOWN", "cannot encode webp: %s",
	    why != NULL && *why != '\0' ? why : "encoder failed");
}

static int
enc_setup(struct mr_thumb_anim_encoder *e, int loop_count, int quality,
    struct mr_err *err)
{
	WebPAnimEncoderOptions opt;

	if (!WebPAnimEncoderOptionsInit(&opt) || !WebPConfigInit(&e->config))
		return enc_fail(err, "libwebp version mismatch");
	opt.anim_params.loop_count = loop_count;
	/* Viewers ignore it, but transparent is the honest background. */
	opt.anim_params.bgcolor = 0;
	/* Lossy only: thumbnails favour size, and mixed mode is slower. */
	opt.allow_mixed = 0;
	e->config.lossless = 0;
	e->config.quality = (float)quality;
	/* Alpha stays lossless so edges of stickers do not fringe. */
	e->config.alpha_quality = 100;
	if (!WebPValidateConfig(&e->config))
		return enc_fail(err, "bad encoder settings");
	e->enc = WebPAnimEncoderNew((int)e->width, (int)e->height, &opt);
	if (e->enc == NULL)
		return enc_fail(err, "out of memory");
	return 0;
}

int
mr_thumb_anim_encoder_new(struct mr_thumb_anim_encoder **out, uint32_t width,
    uint32_t height, int loop_count, int quality, struct mr_err *err)
{
	struct mr_thumb_anim_encoder *e;

	*out = NULL;
	if (width == 0 || height == 0 || width > WEBP_MAX_DIMENSION ||
	    height > WEBP_MAX_DIMENSION)
		return enc_fail(err, "bad frame size");
	if (loop_count < 0 || loop_count > 65535 || quality < 0 ||
	    quality > 100)
		return enc_fail(err, "bad loop count or quality");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return enc_fail(err, "out of memory");
	e->width = width;
	e->height = height;
	if (enc_setup(e, loop_count, quality, err) < 0) {
		mr_thumb_anim_encoder_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

int
mr_thumb_anim_encoder_add(struct mr_thumb_anim_encoder *e,
    const uint8_t *rgba, int duration_ms, struct mr_err *err)
{
	WebPPicture pic;
	int ok;

	if (e->finished || rgba == NULL)
		return enc_fail(err, "frame added after finish");
	if (duration_ms < 0 || duration_ms > ENC_MAX_DURATION ||
	    e->timestamp_ms + duration_ms > INT_MAX)
		return enc_fail(err, "bad frame duration");
	if (!WebPPictureInit(&pic))
		return enc_fail(err, "libwebp version mismatch");
	pic.use_argb = 1;
	pic.width = (int)e->width;
	pic.height = (int)e->height;
	if (!WebPPictureImportRGBA(&pic, rgba, (int)e->width * 4)) {
		WebPPictureFree(&pic);
		return enc_fail(err, "out of memory");
	}
	ok = WebPAnimEncoderAdd(e->enc, &pic, (int)e->timestamp_ms,
	    &e->config);
	WebPPictureFree(&pic);
	if (!ok)
		return enc_fail(err, WebPAnimEncoderGetError(e->enc));
	e->timestamp_ms += duration_ms;
	e->frames++;
	return 0;
}

int
mr_thumb_anim_encoder_finish(struct mr_thumb_anim_encoder *e,
    unsigned char **data, size_t *len, struct mr_err *err)
{
	WebPData out;

	*data = NULL;
	*len = 0;
	if (e->finished || e->frames == 0)
		return enc_fail(err, e->finished ? "already finished" :
		    "no frames");
	e->finished = 1;
	/* The last timestamp closes the last frame's duration. */
	WebPDataInit(&out);
	if (!WebPAnimEncoderAdd(e->enc, NULL, (int)e->timestamp_ms, NULL) ||
	    !WebPAnimEncoderAssemble(e->enc, &out)) {
		WebPDataClear(&out);
		return enc_fail(err, WebPAnimEncoderGetError(e->enc));
	}
	/* Copied so the caller frees with free(), not WebPFree. */
	if ((*data = malloc(out.size)) == NULL) {
		WebPDataClear(&out);
		return enc_fail(err, "out of memory");
	}
	memcpy(*data, out.bytes, out.size);
	*len = out.size;
	WebPDataClear(&out);
	return 0;
}

void
mr_thumb_anim_encoder_free(struct mr_thumb_anim_encoder *e)
{
	if (e == NULL)
		return;
	WebPAnimEncoderDelete(e->enc);
	free(e);
}
