/*
 * test_resample: mr_resample against properties any downscaler must keep
 * (flat stays flat, ramps stay monotonic, the box picks its region, no
 * colour from transparent pixels), bad arguments, huge reductions, and a
 * few outputs recorded from Pillow 9.4 to hold us to its exact bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/resample.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A heap image of w x h with tightly packed rows; free its pixels. */
static struct mr_resample_image
image_new(uint32_t w, uint32_t h, int ch)
{
	struct mr_resample_image im;

	im.width = w;
	im.height = h;
	im.channels = ch;
	im.stride = (size_t)w * ch;
	im.pixels = calloc(im.stride * h + 1, 1);
	assert_non_null(im.pixels);
	return im;
}

static uint8_t *
px(const struct mr_resample_image *im, uint32_t x, uint32_t y)
{
	return im->pixels + (size_t)y * im->stride + (size_t)x * im->channels;
}

static void
image_fill(struct mr_resample_image *im, const uint8_t *colour)
{
	uint32_t x, y;

	for (y = 0; y < im->height; y++)
		for (x = 0; x < im->width; x++)
			memcpy(px(im, x, y), colour, im->channels);
}

/* Resamples the whole of src into a new w x h image; asserts success. */
static struct mr_resample_image
resize(const struct mr_resample_image *src, uint32_t w, uint32_t h)
{
	struct mr_resample_image dst = image_new(w, h, src->channels);
	struct mr_err err;

	assert_int_equal(mr_resample(src, 0, 0, src->width, src->height, &dst,
	    &err), 0);
	return dst;
}

/* --- flat, ramps, tiny and identity --- */

static void
test_constant_stays_constant(void **state)
{
	static const uint32_t sizes[][2] = {
		{ 1, 1 }, { 2, 3 }, { 7, 5 }, { 32, 32 }, { 96, 96 },
		{ 99, 61 }, { 320, 240 },
	};
	static const uint8_t rgba[] = { 200, 17, 99, 255 };
	struct mr_resample_image src;
	size_t i, j;
	int ch;

	(void)state;
	for (ch = 3; ch <= 4; ch++) {
		src = image_new(333, 241, ch);
		image_fill(&src, rgba);
		for (i = 0; i < NELEM(sizes); i++) {
			struct mr_resample_image dst =
			    resize(&src, sizes[i][0], sizes[i][1]);

			for (j = 0; j < dst.stride * dst.height; j++)
				assert_int_equal(dst.pixels[j],
				    rgba[j % (size_t)ch]);
			free(dst.pixels);
		}
		free(src.pixels);
	}
}

static void
test_gradient_stays_monotonic(void **state)
{
	struct mr_resample_image src = image_new(256, 9, 3), dst;
	uint32_t x, y;
	int c;

	(void)state;
	for (y = 0; y < src.height; y++)
		for (x = 0; x < src.width; x++)
			memset(px(&src, x, y), (int)x, 3);
	dst = resize(&src, 37, 4);
	for (y = 0; y < dst.height; y++)
		for (x = 1; x < dst.width; x++)
			for (c = 0; c < 3; c++)
				assert_true(px(&dst, x, y)[c] >=
				    px(&dst, x - 1, y)[c]);
	/* The ends stay near the ends: no ringing pulls them inwards. */
	assert_true(px(&dst, 0, 0)[0] < 8);
	assert_true(px(&dst, dst.width - 1, 0)[0] > 247);
	free(dst.pixels);
	free(src.pixels);
}

/*
 * What Pillow's RGBA -> RGBa -> RGBA round trip makes of a colour: the
 * premultiplied value is rounded to a byte, so half-transparent colours
 * come back slightly off, in Pillow and here alike.
 */
static void
round_trip(const uint8_t *in, uint8_t *out, int ch)
{
	unsigned a = ch == 4 ? in[3] : 255, t, p;
	int c;

	for (c = 0; c < 3; c++) {
		t = in[c] * a + 128;
		p = ((t >> 8) + t) >> 8;
		out[c] = (uint8_t)(a == 0 || a == 255 ? p :
		    255 * p / a > 255 ? 255 : 255 * p / a);
	}
	out[3] = (uint8_t)a;
}

static void
test_one_pixel_source(void **state)
{
	static const uint8_t colour[] = { 12, 250, 77, 128 };
	struct mr_resample_image src, dst;
	uint8_t want[4];
	size_t j;
	int ch;

	(void)state;
	for (ch = 3; ch <= 4; ch++) {
		src = image_new(1, 1, ch);
		image_fill(&src, colour);
		round_trip(colour, want, ch);
		dst = resize(&src, 1, 1);
		assert_memory_equal(dst.pixels, want, ch);
		free(dst.pixels);
		/* Upscaling is not a caller's need, but must stay sane. */
		dst = resize(&src, 3, 2);
		for (j = 0; j < dst.stride * dst.height; j++)
			assert_int_equal(dst.pixels[j], want[j % (size_t)ch]);
		free(dst.pixels);
		free(src.pixels);
	}
}

static void
test_identity(void **state)
{
	struct mr_resample_image src, dst;
	size_t j;
	int ch;

	(void)state;
	srand(7);
	for (ch = 3; ch <= 4; ch++) {
		src = image_new(37, 29, ch);
		for (j = 0; j < src.stride * src.height; j++)
			src.pixels[j] = (uint8_t)rand();
		/* Opaque, so the premultiplied round trip is lossless too. */
		for (j = 3; ch == 4 && j < src.stride * src.height; j += 4)
			src.pixels[j] = 255;
		dst = resize(&src, src.width, src.height);
		for (j = 0; j < src.stride * src.height; j++)
			assert_true(abs(dst.pixels[j] - src.pixels[j]) <= 1);
		free(dst.pixels);
		free(src.pixels);
	}
}

/* --- the box --- */

static void
test_box_picks_region(void **state)
{
	static const uint8_t red[] = { 255, 0, 0 }, blue[] = { 0, 0, 255 };
	struct mr_resample_image src = image_new(100, 10, 3), dst;
	struct mr_err err;
	uint32_t x, y;

	(void)state;
	for (y = 0; y < src.height; y++)
		for (x = 0; x < src.width; x++)
			memcpy(px(&src, x, y), x < 50 ? red : blue, 3);
	/* Same scale: the kernel is zero at whole-pixel distances. */
	dst = image_new(50, 10, 3);
	assert_int_equal(mr_resample(&src, 50, 0, 100, 10, &dst, &err), 0);
	for (y = 0; y < dst.height; y++)
		for (x = 0; x < dst.width; x++)
			assert_memory_equal(px(&dst, x, y), blue, 3);
	free(dst.pixels);
	/* Reduced 5x, the window (+-15 px) still ends inside the blue. */
	dst = image_new(4, 1, 3);
	assert_int_equal(mr_resample(&src, 80, 0, 100, 10, &dst, &err), 0);
	for (x = 0; x < dst.width; x++)
		assert_memory_equal(px(&dst, x, 0), blue, 3);
	free(dst.pixels);
	/* And a box on the red side is red where it is far from the edge. */
	dst = image_new(2, 2, 3);
	assert_int_equal(mr_resample(&src, 0, 2, 20, 8, &dst, &err), 0);
	assert_memory_equal(px(&dst, 0, 0), red, 3);
	free(dst.pixels);
	free(src.pixels);
}

/* --- alpha --- */

static void
test_transparent_colour_does_not_bleed(void **state)
{
	static const uint8_t red[] = { 255, 0, 0, 255 };
	static const uint8_t garbage[] = { 0, 255, 0, 0 };
	struct mr_resample_image src = image_new(64, 16, 4), dst;
	uint32_t x, y;

	(void)state;
	for (y = 0; y < src.height; y++)
		for (x = 0; x < src.width; x++)
			memcpy(px(&src, x, y), x < 32 ? red : garbage, 4);
	dst = resize(&src, 8, 2);
	for (y = 0; y < dst.height; y++)
		for (x = 0; x < dst.width; x++) {
			const uint8_t *p = px(&dst, x, y);

			if (p[3] == 0)
				continue;
			assert_int_equal(p[1], 0);
			assert_int_equal(p[2], 0);
			if (p[3] >= 32)
				assert_true(p[0] >= 250);
		}
	/* The seam is soft in alpha, not in colour. */
	assert_true(px(&dst, 3, 0)[3] > 0 && px(&dst, 4, 0)[3] < 255);
	free(dst.pixels);
	free(src.pixels);
}

/* --- bad arguments --- */

static void
test_invalid_args(void **state)
{
	static const struct {
		double x0, y0, x1, y1;
	} boxes[] = {
		{ -1, 0, 10, 10 }, { 0, -0.5, 10, 10 }, { 0, 0, 10.5, 10 },
		{ 0, 0, 10, 11 }, { 5, 0, 5, 10 }, { 6, 0, 5, 10 },
		{ 0, 3, 10, 3 }, { NAN, 0, 10, 10 }, { 0, 0, INFINITY, 10 },
	};
	struct mr_resample_image src = image_new(10, 10, 3);
	struct mr_resample_image dst = image_new(4, 4, 3), bad;
	struct mr_err err;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(boxes); i++) {
		err.status = 0;
		assert_int_equal(mr_resample(&src, boxes[i].x0, boxes[i].y0,
		    boxes[i].x1, boxes[i].y1, &dst, &err), -1);
		assert_int_equal(err.status, 500);
		assert_string_equal(err.errcode, "M_UNKNOWN");
	}
	bad = src;
	bad.width = 0;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = src;
	bad.height = 0;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = src;
	bad.channels = 2;
	bad.stride = 20;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = src;
	bad.stride = 29;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = src;
	bad.pixels = NULL;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = src;
	bad.width = MR_RESAMPLE_MAX_SIDE + 1;
	bad.stride = (size_t)bad.width * 3;
	assert_int_equal(mr_resample(&bad, 0, 0, 10, 10, &dst, &err), -1);
	bad = dst;
	bad.width = 0;
	assert_int_equal(mr_resample(&src, 0, 0, 10, 10, &bad, &err), -1);
	bad = dst;
	bad.height = 0;
	assert_int_equal(mr_resample(&src, 0, 0, 10, 10, &bad, &err), -1);
	bad = dst;
	bad.channels = 4;
	bad.stride = 16;
	assert_int_equal(mr_resample(&src, 0, 0, 10, 10, &bad, &err), -1);
	assert_int_equal(mr_resample(NULL, 0, 0, 10, 10, &dst, &err), -1);
	assert_int_equal(mr_resample(&src, 0, 0, 10, 10, NULL, &err), -1);
	free(dst.pixels);
	free(src.pixels);
}

/* --- huge reductions --- */

static void
test_large_reduction(void **state)
{
	static const uint8_t white[] = { 255, 255, 255, 255 };
	struct mr_resample_image src, dst;
	int ch, dir;

	(void)state;
	for (ch = 3; ch <= 4; ch++)
		for (dir = 0; dir < 2; dir++) {
			/* 24001 taps of up to 2^22 each: the sums must fit. */
			src = dir ? image_new(1, 4000, ch) :
			    image_new(4000, 1, ch);
			image_fill(&src, white);
			dst = resize(&src, 1, 1);
			assert_true(dst.pixels[0] >= 254);
			assert_true(dst.pixels[ch - 1] >= 254);
			free(dst.pixels);
			free(src.pixels);
		}
}

/* --- Pillow's own bytes --- */

static struct mr_resample_image
pillow_source(int ch)
{
	struct mr_resample_image src = image_new(9, 7, ch);
	uint32_t x, y;
	int c;

	for (y = 0; y < src.height; y++)
		for (x = 0; x < src.width; x++)
			for (c = 0; c < ch; c++)
				px(&src, x, y)[c] = (uint8_t)((x * 37 + y * 91 +
				    (uint32_t)c * 53 + x * y * 7) % 256);
	return src;
}

static void
test_matches_pillow(void **state)
{
	/* Image.frombytes(...).resize(size, Image.LANCZOS, box=...), 9.4.0 */
	static const uint8_t rgb_4x3[] = {
		98, 128, 141, 120, 135, 152, 129, 132, 135, 104, 126, 135,
		128, 137, 123, 144, 134, 133, 143, 136, 126, 134, 124, 126,
		106, 159, 127, 119, 135, 106, 154, 132, 122, 120, 147, 113,
	};
	static const uint8_t rgb_box_3x3[] = {
		123, 128, 138, 117, 132, 141, 120, 126, 141,
		139, 133, 140, 152, 145, 132, 137, 126, 117,
		123, 138, 110, 143, 124, 114, 140, 145, 127,
	};
	static const uint8_t rgba_4x3[] = {
		80, 114, 146, 158, 99, 111, 141, 121, 112, 105, 115, 104,
		82, 103, 127, 130, 108, 116, 126, 129, 127, 114, 133, 134,
		135, 107, 109, 107, 117, 102, 122, 119, 82, 134, 118, 114,
		100, 119, 133, 147, 144, 112, 126, 131, 101, 122, 118, 123,
	};
	struct mr_resample_image src = pillow_source(3), dst;
	struct mr_err err;

	(void)state;
	dst = resize(&src, 4, 3);
	assert_memory_equal(dst.pixels, rgb_4x3, sizeof(rgb_4x3));
	free(dst.pixels);
	dst = image_new(3, 3, 3);
	assert_int_equal(mr_resample(&src, 1.5, 0.5, 8, 6.25, &dst, &err), 0);
	assert_memory_equal(dst.pixels, rgb_box_3x3, sizeof(rgb_box_3x3));
	free(dst.pixels);
	free(src.pixels);
	src = pillow_source(4);
	dst = resize(&src, 4, 3);
	assert_memory_equal(dst.pixels, rgba_4x3, sizeof(rgba_4x3));
	free(dst.pixels);
	free(src.pixels);
}

/* Rows wider than the pixels (a decoder's padding) are honoured. */
static void
test_stride(void **state)
{
	struct mr_resample_image src = pillow_source(3), wide, a, b;
	uint32_t y;

	(void)state;
	wide = src;
	wide.stride = src.stride + 5;
	wide.pixels = calloc(wide.stride * src.height, 1);
	assert_non_null(wide.pixels);
	for (y = 0; y < src.height; y++)
		memcpy(wide.pixels + y * wide.stride, px(&src, 0, y),
		    src.stride);
	a = resize(&src, 4, 3);
	b = resize(&wide, 4, 3);
	assert_memory_equal(a.pixels, b.pixels, a.stride * a.height);
	free(a.pixels);
	free(b.pixels);
	free(wide.pixels);
	free(src.pixels);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_stays_constant),
		cmocka_unit_test(test_gradient_stays_monotonic),
		cmocka_unit_test(test_one_pixel_source),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_box_picks_region),
		cmocka_unit_test(test_transparent_colour_does_not_bleed),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_large_reduction),
		cmocka_unit_test(test_matches_pillow),
		cmocka_unit_test(test_stride),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
