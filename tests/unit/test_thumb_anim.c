/*
 * test_thumb_anim: frame-by-frame decoding of GIFs built here with giflib's
 * encoder (disposal, transparency, local maps, interlacing, clipping, the
 * 10000-frame bomb), APNGs built here chunk by chunk and made by Pillow,
 * animated WebP made by Pillow, every prefix and byte flip of each, and
 * the WebP encoder (round trip, determinism, bad use).
 *
 * Pillow fixtures live in tests/fixtures/anim (make_anim.py), each with
 * NAME.rgba, Pillow's composited frames. They are found in
 * $MR_ANIM_FIXTURES if set, else next to this source file, else relative
 * to the current directory. A missing fixture fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include <gif_lib.h>
#include <zlib.h>

#include "../../common/thumb_anim.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXF 16

static const struct mr_thumb_anim_limits roomy = { 1000, 1u << 30, 1u << 24 };

/* --- collecting frames --- */

struct collect {
	int n;
	int stop_at;		/* fail on this frame (1-based); 0 never */
	uint32_t w, h;
	int dur[MAXF];
	uint8_t *frames[MAXF];
};

static int
collect_fn(void *arg, const uint8_t *rgba, uint32_t w, uint32_t h, int ms,
    struct mr_err *err)
{
	struct collect *c = arg;

	if (c->n == 0) {
		c->w = w;
		c->h = h;
	}
	if (w != c->w || h != c->h)
		return mr_err_set(err, 599, "M_TEST", "canvas changed size");
	if (c->n < MAXF) {
		c->dur[c->n] = ms;
		if ((c->frames[c->n] = malloc((size_t)w * h * 4)) == NULL)
			return mr_err_set(err, 599, "M_TEST", "oom");
		memcpy(c->frames[c->n], rgba, (size_t)w * h * 4);
	}
	c->n++;
	if (c->stop_at != 0 && c->n == c->stop_at)
		return mr_err_set(err, 418, "M_TEST", "stop here");
	return 0;
}

static void
collect_free(struct collect *c)
{
	for (int i = 0; i < MAXF; i++)
		free(c->frames[i]);
	memset(c, 0, sizeof(*c));
}

static void
check_px(const struct collect *c, int f, uint32_t x, uint32_t y,
    const uint8_t want[4], int line)
{
	const uint8_t *p = c->frames[f] + ((size_t)y * c->w + x) * 4;

	if (memcmp(p, want, 4) != 0)
		fail_msg("line %d: frame %d pixel (%u,%u) is %u,%u,%u,%u, want "
		    "%u,%u,%u,%u", line, f, x, y, p[0], p[1], p[2], p[3],
		    want[0], want[1], want[2], want[3]);
}

#define PX(c, f, x, y, r, g, b, a) \
	check_px((c), (f), (x), (y), (const uint8_t[4]){ r, g, b, a }, __LINE__)

/* Decodes into c; returns the decoder's result. */
static int
decode(enum mr_thumb_anim_kind k, const unsigned char *buf, size_t len,
    const struct mr_thumb_anim_limits *lim, int *loops, struct collect *c,
    struct mr_err *err)
{
	mr_err_clear(err);
	return mr_thumb_anim_decode(k, buf, len, lim, loops, collect_fn, c,
	    err);
}

/* --- growable byte buffer --- */

struct membuf {
	unsigned char *p;
	size_t len, cap;
};

static void
mb_put(struct membuf *m, const void *d, size_t n)
{
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 256;

		while (cap < m->len + n)
			cap *= 2;
		assert_non_null(m->p = realloc(m->p, cap));
		m->cap = cap;
	}
	memcpy(m->p + m->len, d, n);
	m->len += n;
}

static void
mb_be32(struct membuf *m, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	mb_put(m, b, 4);
}

/* --- GIF building with giflib's encoder --- */

struct gif_spec {
	int left, top, w, h;
	int interlace;
	int gce;		/* write a graphics control extension */
	int disposal, delay_cs, transparent;	/* transparent -1: none */
	const GifColorType *local;
	int nlocal;		/* a power of two, or 0 */
	const uint8_t *pix;	/* w * h indexes, row by row */
};

static int
gif_write(GifFileType *g, const GifByteType *b, int n)
{
	mb_put(g->UserData, b, (size_t)n);
	return n;
}

static void
gif_put_frame(GifFileType *g, const struct gif_spec *f)
{
	static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
	ColorMapObject *map = NULL;
	GifByteType gce[4];
	GifPixelType *row;

	if (f->gce) {
		gce[0] = (GifByteType)(f->disposal << 2 |
		    (f->transparent >= 0 ? 1 : 0));
		gce[1] = (GifByteType)(f->delay_cs & 0xff);
		gce[2] = (GifByteType)(f->delay_cs >> 8);
		gce[3] = (GifByteType)(f->transparent >= 0 ? f->transparent : 0);
		assert_int_equal(EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4,
		    gce), GIF_OK);
	}
	if (f->nlocal > 0)
		assert_non_null(map = GifMakeMapObject(f->nlocal, f->local));
	/* giflib 5.2 drops, unfreed, a local map not followed by another. */
	if (map == NULL && g->Image.ColorMap != NULL) {
		GifFreeMapObject(g->Image.ColorMap);
		g->Image.ColorMap = NULL;
	}
	assert_int_equal(EGifPutImageDesc(g, f->left, f->top, f->w, f->h,
	    f->interlace, map), GIF_OK);
	GifFreeMapObject(map);
	/*
	 * The encoder writes rows as given, so interlaced order is ours, and
	 * it masks the row in place, so it gets a copy.
	 */
	assert_non_null(row = malloc((size_t)f->w));
	for (int p = 0; p < (f->interlace ? 4 : 1); p++)
		for (int y = f->interlace ? start[p] : 0; y < f->h;
		    y += f->interlace ? step[p] : 1) {
			memcpy(row, f->pix + (size_t)y * f->w, (size_t)f->w);
			assert_int_equal(EGifPutLine(g, row, f->w), GIF_OK);
		}
	free(row);
}

/* loop < 0: no NETSCAPE2.0 block. */
static unsigned char *
gif_build(int w, int h, const GifColorType *global, int nglobal, int loop,
    const struct gif_spec *f, int nf, size_t *len)
{
	struct membuf m = { NULL, 0, 0 };
	ColorMapObject *map = NULL;
	GifFileType *g;
	int e;

	assert_non_null(g = EGifOpen(&m, gif_write, &e));
	EGifSetGifVersion(g, true);
	if (nglobal > 0)
		assert_non_null(map = GifMakeMapObject(nglobal, global));
	assert_int_equal(EGifPutScreenDesc(g, w, h, 8, 0, map), GIF_OK);
	GifFreeMapObject(map);
	if (loop >= 0) {
		GifByteType sub[3] = { 1, loop & 0xff, loop >> 8 };

		assert_int_equal(EGifPutExtensionLeader(g,
		    APPLICATION_EXT_FUNC_CODE), GIF_OK);
		assert_int_equal(EGifPutExtensionBlock(g, 11, "NETSCAPE2.0"),
		    GIF_OK);
		assert_int_equal(EGifPutExtensionBlock(g, 3, sub), GIF_OK);
		assert_int_equal(EGifPutExtensionTrailer(g), GIF_OK);
	}
	for (int i = 0; i < nf; i++)
		gif_put_frame(g, &f[i]);
	assert_int_equal(EGifCloseFile(g, &e), GIF_OK);
	*len = m.len;
	return m.p;
}

/* 0 black (used as transparent), 1 red, 2 green, 3 blue. */
static const GifColorType pal4[4] = {
	{ 0, 0, 0 }, { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }
};

/*
 * 8x6, three frames: red everywhere (50 ms); a 4x3 green patch at (2,1)
 * whose left column is transparent, disposal 2 (delay 0: 100 ms); a 2x2
 * blue patch at (0,0) (200 ms). Loops forever.
 */
static unsigned char *
gif_three(size_t *len)
{
	static uint8_t red[48], patch[12], blue[4];
	const struct gif_spec f[3] = {
		{ 0, 0, 8, 6, 0, 1, 1, 5, -1, NULL, 0, red },
		{ 2, 1, 4, 3, 0, 1, 2, 0, 0, NULL, 0, patch },
		{ 0, 0, 2, 2, 0, 1, 0, 20, -1, NULL, 0, blue },
	};

	memset(red, 1, sizeof(red));
	memset(patch, 2, sizeof(patch));
	patch[0] = patch[4] = patch[8] = 0;
	memset(blue, 3, sizeof(blue));
	return gif_build(8, 6, pal4, 4, 0, f, 3, len);
}

static void
test_gif_dispose_background(void **state)
{
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;
	int loops = -1;

	(void)state;
	g = gif_three(&len);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &roomy, &loops, &c,
	    &err), 3);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.w, 8);
	assert_int_equal(c.h, 6);
	assert_int_equal(loops, 0);
	assert_int_equal(c.dur[0], 50);
	assert_int_equal(c.dur[1], 100);
	assert_int_equal(c.dur[2], 200);
	PX(&c, 0, 5, 3, 255, 0, 0, 255);
	PX(&c, 1, 2, 1, 255, 0, 0, 255);	/* transparent index */
	PX(&c, 1, 3, 1, 0, 255, 0, 255);
	PX(&c, 1, 5, 3, 0, 255, 0, 255);
	PX(&c, 1, 6, 1, 255, 0, 0, 255);
	PX(&c, 2, 3, 1, 0, 0, 0, 0);		/* disposed to transparent */
	PX(&c, 2, 2, 3, 0, 0, 0, 0);
	PX(&c, 2, 0, 0, 0, 0, 255, 255);
	PX(&c, 2, 1, 1, 0, 0, 255, 255);
	PX(&c, 2, 7, 5, 255, 0, 0, 255);
	collect_free(&c);
	free(g);
}

/* Disposal 3 with a local colour map; no NETSCAPE block: plays once. */
static void
test_gif_dispose_previous(void **state)
{
	static const GifColorType yellow[2] = { { 0, 0, 0 }, { 255, 255, 0 } };
	static uint8_t red[16], one[4] = { 1, 1, 1, 1 }, dot[1] = { 3 };
	const struct gif_spec f[3] = {
		{ 0, 0, 4, 4, 0, 0, 0, 0, -1, NULL, 0, red },
		{ 1, 1, 2, 2, 0, 1, 3, 7, -1, yellow, 2, one },
		{ 3, 3, 1, 1, 0, 1, 3, 1, -1, NULL, 0, dot },
	};
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;
	int loops = -1;

	(void)state;
	memset(red, 1, sizeof(red));
	g = gif_build(4, 4, pal4, 4, -1, f, 3, &len);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &roomy, &loops, &c,
	    &err), 3);
	assert_int_equal(loops, 1);
	assert_int_equal(c.dur[0], 100);	/* no extension at all */
	assert_int_equal(c.dur[1], 70);
	assert_int_equal(c.dur[2], 100);	/* 1 cs, as browsers */
	PX(&c, 1, 1, 1, 255, 255, 0, 255);
	PX(&c, 1, 0, 0, 255, 0, 0, 255);
	PX(&c, 2, 1, 1, 255, 0, 0, 255);	/* restored */
	PX(&c, 2, 2, 2, 255, 0, 0, 255);
	PX(&c, 2, 3, 3, 0, 0, 255, 255);
	collect_free(&c);
	free(g);
}

/*
 * 5x11 interlaced full frame with row y in colour y, then an interlaced
 * 4x5 frame at (3,8) hanging off the canvas's right and bottom edges.
 */
static void
test_gif_interlaced(void **state)
{
	GifColorType pal[16];
	uint8_t rows[55], patch[20];
	struct gif_spec f[2] = {
		{ 0, 0, 5, 11, 1, 0, 0, 0, -1, NULL, 0, rows },
		{ 3, 8, 4, 5, 1, 0, 0, 0, -1, NULL, 0, patch },
	};
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;

	(void)state;
	for (int i = 0; i < 16; i++)
		pal[i] = (GifColorType){ (GifByteType)(i * 16),
		    (GifByteType)(255 - i * 16), (GifByteType)i };
	for (int i = 0; i < 55; i++)
		rows[i] = (uint8_t)(i / 5);
	for (int i = 0; i < 20; i++)
		patch[i] = (uint8_t)(11 + i / 4);
	g = gif_build(5, 11, pal, 16, 0, f, 2, &len);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &roomy, NULL, &c,
	    &err), 2);
	for (uint32_t y = 0; y < 11; y++) {
		PX(&c, 0, 0, y, y * 16, 255 - y * 16, y, 255);
		PX(&c, 0, 4, y, y * 16, 255 - y * 16, y, 255);
	}
	/* Patch rows 0..2 land on canvas rows 8..10, columns 3..4. */
	PX(&c, 1, 3, 8, 176, 79, 11, 255);
	PX(&c, 1, 4, 10, 208, 47, 13, 255);
	PX(&c, 1, 2, 10, 160, 95, 10, 255);
	PX(&c, 1, 4, 7, 112, 143, 7, 255);
	collect_free(&c);
	free(g);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 10000 one-pixel frames on a 100x100 canvas. */
static unsigned char *
gif_bomb(size_t *len)
{
	static const uint8_t dot[1] = { 1 };
	struct gif_spec *f;
	unsigned char *g;

	assert_non_null(f = calloc(10000, sizeof(*f)));
	for (int i = 0; i < 10000; i++)
		f[i] = (struct gif_spec){ i % 100, i / 100, 1, 1, 0, 1, 1, 2, -1,
		    NULL, 0, dot };
	g = gif_build(100, 100, pal4, 4, 0, f, 10000, len);
	free(f);
	return g;
}

static void
test_gif_limits(void **state)
{
	const struct mr_thumb_anim_limits by_pixels = { 1000000,
	    100 * 100 * 50, 1u << 24 };
	const struct mr_thumb_anim_limits by_frames = { 20, 1u << 30, 1u << 24 };
	const struct mr_thumb_anim_limits small = { 1000, 1u << 30, 9999 };
	const struct mr_thumb_anim_limits all = { 10000, 100000000, 10000 };
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;
	int64_t t0;

	(void)state;
	g = gif_bomb(&len);
	t0 = mono_ms();
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &by_pixels, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.errcode, "M_TOO_LARGE");
	assert_int_equal(c.n, 50);
	collect_free(&c);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &by_frames, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 20);
	collect_free(&c);
	/* The canvas is refused before anything is decoded. */
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &small, NULL, &c,
	    &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 0);
	if (mono_ms() - t0 > 2000)
		fail_msg("refusing the bomb took %lld ms",
		    (long long)(mono_ms() - t0));
	/* Within the limits every frame streams through one canvas. */
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &all, NULL, &c,
	    &err), 10000);
	assert_int_equal(c.n, 10000);
	PX(&c, 15, 15, 0, 255, 0, 0, 255);
	PX(&c, 15, 16, 0, 0, 0, 0, 0);
	assert_int_equal(c.dur[3], 20);
	collect_free(&c);
	free(g);
}

/*
 * A frame far bigger than its canvas is decoded in full before clipping,
 * so it is charged at its own size.
 */
static void
test_gif_oversized_frame(void **state)
{
	const struct mr_thumb_anim_limits lim = { 100, 16 * 1000, 1u << 24 };
	uint8_t *big = calloc(300 * 300, 1);
	struct gif_spec f = { 0, 0, 300, 300, 0, 0, 0, 0, -1, NULL, 0, big };
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;

	(void)state;
	assert_non_null(big);
	memset(big, 2, 300 * 300);
	g = gif_build(4, 4, pal4, 4, 0, &f, 1, &len);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &lim, NULL, &c,
	    &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 0);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len, &roomy, NULL, &c,
	    &err), 1);
	PX(&c, 0, 3, 3, 0, 255, 0, 255);
	collect_free(&c);
	free(g);
	free(big);
}

/* Table of GIFs that must be refused with 400. */
static void
test_gif_invalid(void **state)
{
	static const uint8_t px[4] = { 1, 1, 1, 1 };
	const struct gif_spec f = { 0, 0, 2, 2, 0, 0, 0, 0, -1, NULL, 0, px };
	static const unsigned char empty_canvas[] = "GIF89a\0\0\0\0\0\0\0;";
	static const unsigned char no_frames[] = "GIF89a\2\0\2\0\0\0\0;";
	static const unsigned char junk[] = "GIF89a\2\0\2\0\0\0\0\x99";
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *g;
	size_t len;

	(void)state;
	/*
	 * No global map and no local one (giflib will not write that, so
	 * the screen descriptor's map flag is cleared by hand).
	 */
	g = gif_build(2, 2, pal4, 4, -1, &f, 1, &len);
	assert_true(len > 13 + 12);
	assert_true(g[10] & 0x80);
	g[10] &= 0x7f;
	memmove(g + 13, g + 13 + 12, len - 13 - 12);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, g, len - 12, &roomy, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.msg, "colour table"));
	free(g);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, empty_canvas,
	    sizeof(empty_canvas) - 1, &roomy, NULL, &c, &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, no_frames,
	    sizeof(no_frames) - 1, &roomy, NULL, &c, &err), -1);
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.msg, "no frames"));
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, junk, sizeof(junk) - 1,
	    &roomy, NULL, &c, &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(decode(MR_THUMB_ANIM_GIF, NULL, 0, &roomy, NULL, &c,
	    &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(c.n, 0);
}

/* --- APNG building --- */

static void
png_chunk(struct membuf *m, const char *type, const void *d, uint32_t n)
{
	uLong crc = crc32(0, (const Bytef *)type, 4);

	if (n > 0)
		crc = crc32(crc, d, n);
	mb_be32(m, n);
	mb_put(m, type, 4);
	if (n > 0)
		mb_put(m, d, n);
	mb_be32(m, (uint32_t)crc);
}

/* Colour type 6 (RGBA) or 3 (palette), depth 8. */
static void
png_start(struct membuf *m, uint32_t w, uint32_t h, int ctype)
{
	unsigned char ihdr[13] = { w >> 24, w >> 16, w >> 8, w, h >> 24,
	    h >> 16, h >> 8, h, 8, (unsigned char)ctype, 0, 0, 0 };

	mb_put(m, "\x89PNG\r\n\x1a\n", 8);
	png_chunk(m, "IHDR", ihdr, 13);
}

static void
png_actl(struct membuf *m, uint32_t frames, uint32_t plays)
{
	unsigned char d[8] = { frames >> 24, frames >> 16, frames >> 8, frames,
	    plays >> 24, plays >> 16, plays >> 8, plays };

	png_chunk(m, "acTL", d, 8);
}

static void
png_fctl(struct membuf *m, uint32_t seq, uint32_t w, uint32_t h, uint32_t x,
    uint32_t y, int num, int den, int dispose, int blend)
{
	const uint32_t v[5] = { seq, w, h, x, y };
	unsigned char d[26];

	for (int i = 0; i < 5; i++) {
		d[i * 4] = (unsigned char)(v[i] >> 24);
		d[i * 4 + 1] = (unsigned char)(v[i] >> 16);
		d[i * 4 + 2] = (unsigned char)(v[i] >> 8);
		d[i * 4 + 3] = (unsigned char)v[i];
	}
	d[20] = (unsigned char)(num >> 8);
	d[21] = (unsigned char)num;
	d[22] = (unsigned char)(den >> 8);
	d[23] = (unsigned char)den;
	d[24] = (unsigned char)dispose;
	d[25] = (unsigned char)blend;
	png_chunk(m, "fcTL", d, 26);
}

/* IDAT when seq < 0, else fdAT with that sequence number. */
static void
png_data(struct membuf *m, int seq, const uint8_t *px, uint32_t w,
    uint32_t h, int bpp)
{
	size_t rowlen = (size_t)w * bpp + 1, rawlen = rowlen * h;
	uLongf zlen = compressBound(rawlen);
	unsigned char *raw = calloc(1, rawlen), *z = malloc(zlen + 4);

	assert_non_null(raw);
	assert_non_null(z);
	for (uint32_t y = 0; y < h; y++)
		memcpy(raw + y * rowlen + 1, px + (size_t)y * w * bpp,
		    rowlen - 1);
	assert_int_equal(compress(z + 4, &zlen, raw, rawlen), Z_OK);
	if (seq < 0) {
		png_chunk(m, "IDAT", z + 4, (uint32_t)zlen);
	} else {
		z[0] = z[1] = z[2] = 0;
		z[3] = (unsigned char)seq;
		png_chunk(m, "fdAT", z, (uint32_t)zlen + 4);
	}
	free(raw);
	free(z);
}

static void
png_end(struct membuf *m)
{
	png_chunk(m, "IEND", NULL, 0);
}

static const uint8_t red2[8] = { 255, 0, 0, 255, 0, 0, 0, 0 };
static const uint8_t half_blue2[8] = { 0, 0, 255, 128, 0, 0, 255, 128 };

/* Partial alpha "over", checked against values worked out by hand. */
static void
test_apng_blend_over(void **state)
{
	struct membuf m = { NULL, 0, 0 };
	struct collect c = { 0 };
	struct mr_err err;
	int loops = -1;

	(void)state;
	png_start(&m, 2, 1, 6);
	png_actl(&m, 2, 7);
	png_fctl(&m, 0, 2, 1, 0, 0, 1, 20, 0, 0);
	png_data(&m, -1, red2, 2, 1, 4);
	png_fctl(&m, 1, 2, 1, 0, 0, 5, 0, 0, 1);
	png_data(&m, 2, half_blue2, 2, 1, 4);
	png_end(&m);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, &loops,
	    &c, &err), 2);
	assert_int_equal(loops, 7);
	assert_int_equal(c.dur[0], 50);
	assert_int_equal(c.dur[1], 50);		/* den 0 means 100 */
	PX(&c, 0, 0, 0, 255, 0, 0, 255);
	PX(&c, 0, 1, 0, 0, 0, 0, 0);
	PX(&c, 1, 0, 0, 127, 0, 128, 255);
	PX(&c, 1, 1, 0, 0, 0, 255, 128);
	collect_free(&c);
	free(m.p);
}

/*
 * Palette frames need PLTE and tRNS copied into each frame's PNG; the
 * default image is skipped; "previous" on the first frame acts as
 * "background".
 */
static void
test_apng_palette_default(void **state)
{
	static const unsigned char plte[6] = { 255, 0, 0, 0, 0, 255 };
	static const unsigned char trns[2] = { 255, 0 };
	static const uint8_t ones[2] = { 1, 1 }, zero[1] = { 0 };
	struct membuf m = { NULL, 0, 0 };
	struct collect c = { 0 };
	struct mr_err err;

	(void)state;
	png_start(&m, 2, 1, 3);
	png_actl(&m, 2, 0);
	png_chunk(&m, "PLTE", plte, 6);
	png_chunk(&m, "tRNS", trns, 2);
	png_data(&m, -1, ones, 2, 1, 1);	/* default image only */
	png_fctl(&m, 0, 2, 1, 0, 0, 1, 10, 2, 0);
	png_data(&m, 1, (const uint8_t[2]){ 0, 1 }, 2, 1, 1);
	png_fctl(&m, 2, 1, 1, 1, 0, 1, 10, 0, 0);
	png_data(&m, 3, zero, 1, 1, 1);
	png_end(&m);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, NULL,
	    &c, &err), 2);
	assert_int_equal(c.dur[0], 100);
	PX(&c, 0, 0, 0, 255, 0, 0, 255);
	assert_int_equal(c.frames[0][7], 0);
	/* Frame 0 was cleared, not restored; frame 1 paints red at x 1. */
	PX(&c, 1, 0, 0, 0, 0, 0, 0);
	PX(&c, 1, 1, 0, 255, 0, 0, 255);
	collect_free(&c);
	free(m.p);
}

/* A PNG without acTL is one frame that plays once. */
static void
test_apng_plain_png(void **state)
{
	struct membuf m = { NULL, 0, 0 };
	struct collect c = { 0 };
	struct mr_err err;
	int loops = -1;

	(void)state;
	png_start(&m, 2, 1, 6);
	png_fctl(&m, 0, 1, 1, 0, 0, 1, 1, 0, 0);	/* ignored */
	png_data(&m, -1, red2, 2, 1, 4);
	png_end(&m);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, &loops,
	    &c, &err), 1);
	assert_int_equal(loops, 1);
	assert_int_equal(c.dur[0], 100);
	PX(&c, 0, 0, 0, 255, 0, 0, 255);
	collect_free(&c);
	free(m.p);
}

enum apng_bad {
	AB_OUTSIDE, AB_OFFSET_WRAP, AB_FDAT_FIRST, AB_NO_DATA, AB_NO_FRAMES,
	AB_DISPOSE, AB_BLEND, AB_ZERO_FRAMES, AB_FIRST_SMALL, AB_IDAT_LATE,
	AB_BAD_ZLIB, AB_SHORT_FCTL, AB_IHDR_TWICE, AB_NO_IEND, AB_HUGE_LEN,
	AB__MAX
};

static void
apng_bad_build(struct membuf *m, enum apng_bad which)
{
	png_start(m, 2, 1, 6);
	png_actl(m, which == AB_ZERO_FRAMES ? 0 : 2, 0);
	if (which == AB_IHDR_TWICE)
		png_chunk(m, "IHDR", "\0\0\0\2\0\0\0\1\x08\x06\0\0\0", 13);
	if (which == AB_FDAT_FIRST)
		png_data(m, 0, red2, 2, 1, 4);
	if (which == AB_FIRST_SMALL)
		png_fctl(m, 0, 1, 1, 0, 0, 1, 10, 0, 0);
	png_data(m, -1, red2, 2, 1, 4);
	if (which == AB_NO_FRAMES) {
		png_end(m);
		return;
	}
	if (which == AB_SHORT_FCTL)
		png_chunk(m, "fcTL", "\0\0\0\3", 4);
	else
		png_fctl(m, 1, which == AB_OUTSIDE ? 3 : 1, 1,
		    which == AB_OFFSET_WRAP ? 0xffffffffu : 0, 0, 1, 10,
		    which == AB_DISPOSE ? 3 : 0, which == AB_BLEND ? 2 : 0);
	if (which == AB_IDAT_LATE)
		png_data(m, -1, red2, 1, 1, 4);
	if (which == AB_BAD_ZLIB)
		png_chunk(m, "fdAT", "\0\0\0\2garbage!", 12);
	else if (which != AB_NO_DATA)
		png_data(m, 2, red2, 1, 1, 4);
	if (which == AB_HUGE_LEN)
		mb_put(m, "\x7f\xff\xff\xf0IDAT", 8);
	if (which != AB_NO_IEND)
		png_end(m);
}

static void
test_apng_invalid(void **state)
{
	(void)state;
	for (int i = 0; i < AB__MAX; i++) {
		struct membuf m = { NULL, 0, 0 };
		struct collect c = { 0 };
		struct mr_err err;

		apng_bad_build(&m, (enum apng_bad)i);
		if (decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, NULL, &c,
		    &err) != -1 || err.status != 400)
			fail_msg("case %d: want 400, got %d '%s'", i, err.status,
			    err.msg);
		assert_string_equal(err.errcode, "M_UNKNOWN");
		assert_non_null(strstr(err.msg, "cannot decode apng"));
		collect_free(&c);
		free(m.p);
	}
}

/* acTL claims are judged first; frames past a lying acTL still count. */
static void
test_apng_limits(void **state)
{
	const struct mr_thumb_anim_limits two = { 2, 1u << 30, 1u << 24 };
	const struct mr_thumb_anim_limits px = { 1000, 4, 1u << 24 };
	const struct mr_thumb_anim_limits canvas = { 1000, 1u << 30, 1 };
	struct membuf m = { NULL, 0, 0 };
	struct collect c = { 0 };
	struct mr_err err;

	(void)state;
	png_start(&m, 2, 1, 6);
	png_actl(&m, 1, 0);
	for (int i = 0; i < 3; i++) {
		png_fctl(&m, (uint32_t)i * 2, 2, 1, 0, 0, 1, 10, 0, 0);
		png_data(&m, i == 0 ? -1 : i * 2 + 1, red2, 2, 1, 4);
	}
	png_end(&m);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, NULL,
	    &c, &err), 3);
	collect_free(&c);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &two, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 2);
	collect_free(&c);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &px, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 2);
	collect_free(&c);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &canvas, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(c.n, 0);
	free(m.p);
	/* A claim of 10^9 frames is refused before any pixel. */
	m = (struct membuf){ NULL, 0, 0 };
	png_start(&m, 2, 1, 6);
	png_actl(&m, 1000000000, 0);
	png_end(&m);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, m.p, m.len, &roomy, NULL,
	    &c, &err), -1);
	assert_int_equal(err.status, 413);
	free(m.p);
}

/* --- Pillow fixtures --- */

static unsigned char *
fixture_load(const char *name, size_t *len)
{
	return fixture_find(__FILE__, "anim", "MR_ANIM_FIXTURES", name, len);
}

static const struct pil_fixture {
	const char *name, *rgba;
	enum mr_thumb_anim_kind kind;
	uint32_t w, h;
	int frames, loops;
	int dur[4];
} pil_fixtures[] = {
	{ "over_prev_12x10.png", "over_prev_12x10.rgba", MR_THUMB_ANIM_APNG,
	    12, 10, 4, 3, { 100, 200, 150, 50 } },
	{ "default_12x10.png", "default_12x10.rgba", MR_THUMB_ANIM_APNG,
	    12, 10, 3, 0, { 100, 200, 150 } },
	{ "alpha_3f_10x8.webp", "alpha_3f_10x8.rgba", MR_THUMB_ANIM_WEBP,
	    10, 8, 3, 0, { 80, 120, 200 } },
};

static void
compare_frame(const struct pil_fixture *fx, int f, const uint8_t *got,
    const uint8_t *want)
{
	for (uint32_t i = 0; i < fx->w * fx->h; i++) {
		const uint8_t *g = got + i * 4, *w = want + i * 4;

		if (memcmp(g, w, 4) != 0)
			fail_msg("%s frame %d pixel (%u,%u): %u,%u,%u,%u, Pillow "
			    "has %u,%u,%u,%u", fx->name, f, i % fx->w, i / fx->w,
			    g[0], g[1], g[2], g[3], w[0], w[1], w[2], w[3]);
	}
}

/* Our compositing must equal Pillow's, pixel for pixel. */
static void
test_pillow_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(pil_fixtures); i++) {
		const struct pil_fixture *fx = &pil_fixtures[i];
		struct collect c = { 0 };
		struct mr_err err;
		unsigned char *buf, *want;
		size_t len, wlen;
		int loops = -1;

		buf = fixture_load(fx->name, &len);
		want = fixture_load(fx->rgba, &wlen);
		assert_int_equal(wlen, (size_t)fx->w * fx->h * 4 * fx->frames);
		if (decode(fx->kind, buf, len, &roomy, &loops, &c, &err) !=
		    fx->frames)
			fail_msg("%s: %d frames, %s", fx->name, c.n, err.msg);
		assert_int_equal(c.w, fx->w);
		assert_int_equal(c.h, fx->h);
		assert_int_equal(loops, fx->loops);
		for (int f = 0; f < fx->frames; f++) {
			assert_int_equal(c.dur[f], fx->dur[f]);
			compare_frame(fx, f, c.frames[f],
			    want + (size_t)f * fx->w * fx->h * 4);
		}
		collect_free(&c);
		free(buf);
		free(want);
	}
}

/* WebP claims (canvas, frame count) are judged before decoding. */
static void
test_webp_limits(void **state)
{
	const struct mr_thumb_anim_limits two = { 2, 1u << 30, 1u << 24 };
	const struct mr_thumb_anim_limits px = { 1000, 80 * 3 - 1, 1u << 24 };
	const struct mr_thumb_anim_limits canvas = { 1000, 1u << 30, 79 };
	const struct mr_thumb_anim_limits *lims[] = { &two, &px, &canvas };
	unsigned char *buf;
	size_t len;

	(void)state;
	buf = fixture_load("alpha_3f_10x8.webp", &len);
	for (size_t i = 0; i < NELEM(lims); i++) {
		struct collect c = { 0 };
		struct mr_err err;

		assert_int_equal(decode(MR_THUMB_ANIM_WEBP, buf, len, lims[i],
		    NULL, &c, &err), -1);
		assert_int_equal(err.status, 413);
		assert_string_equal(err.errcode, "M_TOO_LARGE");
		assert_int_equal(c.n, 0);
	}
	free(buf);
}

/* --- encoder --- */

static uint8_t *
enc_frame(uint32_t w, uint32_t h, const uint8_t rgb[3])
{
	uint8_t *p = malloc((size_t)w * h * 4);

	assert_non_null(p);
	/* Solid colour, with a clear top-left quadrant. */
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint8_t *q = p + ((size_t)y * w + x) * 4;
			int clear = x < w / 2 && y < h / 2;

			q[0] = clear ? 0 : rgb[0];
			q[1] = clear ? 0 : rgb[1];
			q[2] = clear ? 0 : rgb[2];
			q[3] = clear ? 0 : 255;
		}
	return p;
}

static const uint8_t enc_rgb[3][3] = {
	{ 220, 30, 30 }, { 30, 200, 40 }, { 40, 60, 210 }
};

static unsigned char *
encode3(size_t *len)
{
	struct mr_thumb_anim_encoder *enc;
	struct mr_err err;
	unsigned char *out;

	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 32, 24, 2, 80, &err),
	    0);
	for (int i = 0; i < 3; i++) {
		uint8_t *f = enc_frame(32, 24, enc_rgb[i]);

		assert_int_equal(mr_thumb_anim_encoder_add(enc, f, 100 * (i + 1),
		    &err), 0);
		free(f);
	}
	assert_int_equal(mr_thumb_anim_encoder_finish(enc, &out, len, &err),
	    0);
	mr_thumb_anim_encoder_free(enc);
	return out;
}

static void
near(const struct collect *c, int f, uint32_t x, uint32_t y,
    const uint8_t want[3])
{
	const uint8_t *p = c->frames[f] + ((size_t)y * c->w + x) * 4;

	for (int i = 0; i < 3; i++)
		if (abs(p[i] - want[i]) > 16)
			fail_msg("frame %d (%u,%u): %u,%u,%u, want about "
			    "%u,%u,%u", f, x, y, p[0], p[1], p[2], want[0],
			    want[1], want[2]);
	assert_int_equal(p[3], 255);
}

static void
test_encoder_round_trip(void **state)
{
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *out;
	size_t len;
	int loops = -1;

	(void)state;
	out = encode3(&len);
	assert_true(len > 12);
	assert_memory_equal(out, "RIFF", 4);
	assert_memory_equal(out + 8, "WEBP", 4);
	assert_int_equal(decode(MR_THUMB_ANIM_WEBP, out, len, &roomy, &loops,
	    &c, &err), 3);
	assert_int_equal(c.w, 32);
	assert_int_equal(c.h, 24);
	assert_int_equal(loops, 2);
	for (int f = 0; f < 3; f++) {
		assert_int_equal(c.dur[f], 100 * (f + 1));
		near(&c, f, 24, 18, enc_rgb[f]);
		near(&c, f, 2, 20, enc_rgb[f]);
		/* Alpha is lossless: the clear quadrant stays clear. */
		assert_int_equal(c.frames[f][(5 * 32 + 5) * 4 + 3], 0);
	}
	collect_free(&c);
	free(out);
}

static void
test_encoder_deterministic(void **state)
{
	unsigned char *a, *b;
	size_t alen, blen;

	(void)state;
	a = encode3(&alen);
	b = encode3(&blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

/* One frame still decodes, whatever container libwebp picks for it. */
static void
test_encoder_one_frame(void **state)
{
	struct mr_thumb_anim_encoder *enc;
	struct collect c = { 0 };
	struct mr_err err;
	unsigned char *out;
	uint8_t *f = enc_frame(7, 5, enc_rgb[2]);
	size_t len;

	(void)state;
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 7, 5, 0, 50, &err), 0);
	assert_int_equal(mr_thumb_anim_encoder_add(enc, f, 40, &err), 0);
	assert_int_equal(mr_thumb_anim_encoder_finish(enc, &out, &len, &err),
	    0);
	mr_thumb_anim_encoder_free(enc);
	assert_int_equal(decode(MR_THUMB_ANIM_WEBP, out, len, &roomy, NULL, &c,
	    &err), 1);
	assert_int_equal(c.w, 7);
	assert_int_equal(c.h, 5);
	near(&c, 0, 6, 4, enc_rgb[2]);
	collect_free(&c);
	free(out);
	free(f);
}

static void
test_encoder_misuse(void **state)
{
	struct mr_thumb_anim_encoder *enc;
	struct mr_err err;
	unsigned char *out;
	uint8_t *f = enc_frame(4, 4, enc_rgb[0]);
	size_t len;

	(void)state;
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 0, 4, 0, 50, &err),
	    -1);
	assert_null(enc);
	assert_int_equal(err.status, 500);
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 16384, 4, 0, 50,
	    &err), -1);
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 4, 4, 0, 101, &err),
	    -1);
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 4, 4, -1, 50, &err),
	    -1);
	assert_int_equal(mr_thumb_anim_encoder_new(&enc, 4, 4, 0, 50, &err), 0);
	assert_int_equal(mr_thumb_anim_encoder_finish(enc, &out, &len, &err),
	    -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "no frames"));
	assert_int_equal(mr_thumb_anim_encoder_add(enc, f, -1, &err), -1);
	assert_int_equal(mr_thumb_anim_encoder_add(enc, f, 0x1000000, &err),
	    -1);
	assert_int_equal(mr_thumb_anim_encoder_add(enc, f, 10, &err), 0);
	assert_int_equal(mr_thumb_anim_encoder_finish(enc, &out, &len, &err),
	    0);
	free(out);
	assert_int_equal(mr_thumb_anim_encoder_add(enc, f, 10, &err), -1);
	assert_int_equal(mr_thumb_anim_encoder_finish(enc, &out, &len, &err),
	    -1);
	mr_thumb_anim_encoder_free(enc);
	mr_thumb_anim_encoder_free(NULL);
	free(f);
}

/* --- hostile bytes: every prefix and byte flip of every sample --- */

struct sample {
	const char *name;
	enum mr_thumb_anim_kind kind;
	unsigned char *buf;
	size_t len;
};

static void
samples_load(struct sample s[8])
{
	struct membuf m = { NULL, 0, 0 };
	static const uint8_t red[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	    1, 1, 1 };
	const struct gif_spec il = { 0, 0, 4, 4, 1, 1, 3, 4, 2, NULL, 0, red };

	s[0] = (struct sample){ "gif three", MR_THUMB_ANIM_GIF, NULL, 0 };
	s[0].buf = gif_three(&s[0].len);
	s[1] = (struct sample){ "gif interlaced", MR_THUMB_ANIM_GIF, NULL, 0 };
	s[1].buf = gif_build(4, 4, pal4, 4, 5, &il, 1, &s[1].len);
	png_start(&m, 2, 1, 6);
	png_actl(&m, 2, 0);
	png_fctl(&m, 0, 2, 1, 0, 0, 1, 20, 0, 0);
	png_data(&m, -1, red2, 2, 1, 4);
	png_fctl(&m, 1, 2, 1, 0, 0, 5, 0, 2, 1);
	png_data(&m, 2, half_blue2, 2, 1, 4);
	png_end(&m);
	s[2] = (struct sample){ "apng built", MR_THUMB_ANIM_APNG, m.p, m.len };
	s[3] = (struct sample){ "over_prev_12x10.png", MR_THUMB_ANIM_APNG,
	    NULL, 0 };
	s[4] = (struct sample){ "default_12x10.png", MR_THUMB_ANIM_APNG,
	    NULL, 0 };
	s[5] = (struct sample){ "alpha_3f_10x8.webp", MR_THUMB_ANIM_WEBP,
	    NULL, 0 };
	for (int i = 3; i < 6; i++)
		s[i].buf = fixture_load(s[i].name, &s[i].len);
	s[6] = (struct sample){ "encoded webp", MR_THUMB_ANIM_WEBP, NULL, 0 };
	s[6].buf = encode3(&s[6].len);
	s[7] = (struct sample){ NULL, 0, NULL, 0 };
}

static void
samples_free(struct sample s[8])
{
	for (int i = 0; s[i].name != NULL; i++)
		free(s[i].buf);
}

/* An exact-size copy, so ASan sees any read past the end. */
static int
decode_copy(const struct sample *s, size_t len, size_t flip,
    struct mr_err *err)
{
	const struct mr_thumb_anim_limits lim = { 64, 1u << 22, 1u << 20 };
	struct collect c = { 0 };
	unsigned char *b = malloc(len ? len : 1);
	int rc;

	assert_non_null(b);
	memcpy(b, s->buf, len);
	if (flip < len)
		b[flip] ^= 0xff;
	rc = decode(s->kind, b, len, &lim, NULL, &c, err);
	if (rc >= 0 && rc != c.n)
		fail_msg("%s: returned %d after %d frames", s->name, rc, c.n);
	collect_free(&c);
	free(b);
	return rc;
}

static void
test_truncated(void **state)
{
	struct sample s[8];

	(void)state;
	samples_load(s);
	for (int i = 0; s[i].name != NULL; i++) {
		struct mr_err err;

		assert_true(decode_copy(&s[i], s[i].len, SIZE_MAX, &err) > 0);
		for (size_t n = 0; n < s[i].len; n++)
			if (decode_copy(&s[i], n, SIZE_MAX, &err) != -1 ||
			    err.status != 400)
				fail_msg("%s cut to %zu bytes: status %d '%s'",
				    s[i].name, n, err.status, err.msg);
	}
	samples_free(s);
}

static void
test_byte_flips(void **state)
{
	struct sample s[8];

	(void)state;
	samples_load(s);
	for (int i = 0; s[i].name != NULL; i++)
		for (size_t k = 0; k < s[i].len; k++) {
			struct mr_err err;

			if (decode_copy(&s[i], s[i].len, k, &err) < 0 &&
			    err.status != 400 && err.status != 413)
				fail_msg("%s flipped at %zu: status %d '%s'",
				    s[i].name, k, err.status, err.msg);
		}
	samples_free(s);
}

/* A callback's -1 stops the decode and its error comes back. */
static void
test_callback_stops(void **state)
{
	struct sample s[8];

	(void)state;
	samples_load(s);
	for (int i = 0; s[i].name != NULL; i++) {
		struct collect c = { 0 };
		struct mr_err err;

		if (s[i].name == s[1].name)
			continue;	/* one frame only */
		c.stop_at = 2;
		assert_int_equal(decode(s[i].kind, s[i].buf, s[i].len, &roomy,
		    NULL, &c, &err), -1);
		assert_int_equal(err.status, 418);
		assert_int_equal(c.n, 2);
		collect_free(&c);
	}
	samples_free(s);
}

struct early {
	int *loops;
	int seen;
};

static int
early_fn(void *arg, const uint8_t *rgba, uint32_t w, uint32_t h, int ms,
    struct mr_err *err)
{
	struct early *e = arg;

	(void)rgba;
	(void)w;
	(void)h;
	(void)ms;
	(void)err;
	if (e->seen == -1)
		e->seen = *e->loops;
	return 0;
}

/* The loop count is known by the first frame (the caller's encoder). */
static void
test_loop_count_early(void **state)
{
	static const int want[] = { 0, 6, 0, 3, 0, 0, 2 };
	struct sample s[8];

	(void)state;
	samples_load(s);
	for (int i = 0; s[i].name != NULL; i++) {
		struct mr_err err;
		int loops = -5;
		struct early e = { &loops, -1 };

		assert_true(mr_thumb_anim_decode(s[i].kind, s[i].buf, s[i].len,
		    &roomy, &loops, early_fn, &e, &err) > 0);
		if (e.seen != want[i] || loops != want[i])
			fail_msg("%s: loop count %d at first frame, %d at end, "
			    "want %d", s[i].name, e.seen, loops, want[i]);
	}
	samples_free(s);
}

static void
test_bad_arguments(void **state)
{
	struct collect c = { 0 };
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_thumb_anim_decode(MR_THUMB_ANIM_GIF,
	    (const unsigned char *)"GIF", 3, NULL, NULL, collect_fn, &c, &err),
	    -1);
	assert_int_equal(err.status, 500);
	assert_int_equal(mr_thumb_anim_decode((enum mr_thumb_anim_kind)9,
	    (const unsigned char *)"GIF", 3, &roomy, NULL, collect_fn, &c,
	    &err), -1);
	assert_int_equal(decode(MR_THUMB_ANIM_APNG, NULL, 0, &roomy, NULL, &c,
	    &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(decode(MR_THUMB_ANIM_WEBP, NULL, 0, &roomy, NULL, &c,
	    &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(c.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gif_dispose_background),
		cmocka_unit_test(test_gif_dispose_previous),
		cmocka_unit_test(test_gif_interlaced),
		cmocka_unit_test(test_gif_limits),
		cmocka_unit_test(test_gif_oversized_frame),
		cmocka_unit_test(test_gif_invalid),
		cmocka_unit_test(test_apng_blend_over),
		cmocka_unit_test(test_apng_palette_default),
		cmocka_unit_test(test_apng_plain_png),
		cmocka_unit_test(test_apng_invalid),
		cmocka_unit_test(test_apng_limits),
		cmocka_unit_test(test_pillow_fixtures),
		cmocka_unit_test(test_webp_limits),
		cmocka_unit_test(test_encoder_round_trip),
		cmocka_unit_test(test_encoder_deterministic),
		cmocka_unit_test(test_encoder_one_frame),
		cmocka_unit_test(test_encoder_misuse),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_byte_flips),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_loop_count_early),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
