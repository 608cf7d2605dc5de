/*
 * test_thumb: the pure planning functions of common/thumb.c, by table:
 * which box a request picks, and how each box is cut from an original.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/thumb.h"

static const struct mr_thumb_spec defaults[] = {
	{ 32, 32, MR_THUMB_CROP }, { 96, 96, MR_THUMB_CROP },
	{ 320, 240, MR_THUMB_SCALE }, { 640, 480, MR_THUMB_SCALE },
	{ 800, 600, MR_THUMB_SCALE },
};
#define NDEF (sizeof(defaults) / sizeof(defaults[0]))

static void
test_pick(void **state)
{
	static const struct {
		uint32_t w, h;
		enum mr_thumb_method m;
		size_t want;
	} cases[] = {
		{ 1, 1, MR_THUMB_CROP, 0 },
		{ 32, 32, MR_THUMB_CROP, 0 },
		{ 33, 20, MR_THUMB_CROP, 1 },
		{ 96, 96, MR_THUMB_CROP, 1 },
		{ 97, 96, MR_THUMB_CROP, NDEF },	/* none large enough */
		{ 1, 1, MR_THUMB_SCALE, 2 },
		{ 320, 240, MR_THUMB_SCALE, 2 },
		{ 321, 240, MR_THUMB_SCALE, 3 },
		{ 100, 481, MR_THUMB_SCALE, 4 },
		{ 800, 600, MR_THUMB_SCALE, 4 },
		{ 801, 600, MR_THUMB_SCALE, NDEF },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mr_thumb_pick(defaults, NDEF, cases[i].w,
		    cases[i].h, cases[i].m), cases[i].want);
}

static void
test_pick_fallback(void **state)
{
	static const struct mr_thumb_spec scale_only[] = {
		{ 320, 240, MR_THUMB_SCALE }, { 640, 480, MR_THUMB_SCALE },
	};

	(void)state;
	assert_int_equal(mr_thumb_pick_fallback(defaults, NDEF, MR_THUMB_CROP),
	    1);
	assert_int_equal(mr_thumb_pick_fallback(defaults, NDEF, MR_THUMB_SCALE),
	    4);
	/* No box of the method: the largest of any. */
	assert_int_equal(mr_thumb_pick_fallback(scale_only, 2, MR_THUMB_CROP),
	    1);
}

static void
test_plan(void **state)
{
	static const struct {
		uint32_t ow, oh;
		struct mr_thumb_spec spec;
		int original;
		uint32_t w, h;
		double x0, y0, x1, y1;
	} cases[] = {
		/* Scale fits inside the box and keeps the aspect. */
		{ 1000, 500, { 320, 240, MR_THUMB_SCALE }, 0, 320, 160,
		  0, 0, 1000, 500 },
		{ 500, 1000, { 320, 240, MR_THUMB_SCALE }, 0, 120, 240,
		  0, 0, 500, 1000 },
		/* Never upscale: an original inside the box is served. */
		{ 60, 40, { 320, 240, MR_THUMB_SCALE }, 1, 60, 40, 0, 0, 60, 40 },
		{ 96, 96, { 96, 96, MR_THUMB_CROP }, 1, 96, 96, 0, 0, 96, 96 },
		/* Crop covers the box and cuts the centre. */
		{ 1000, 500, { 96, 96, MR_THUMB_CROP }, 0, 96, 96,
		  250, 0, 750, 500 },
		{ 400, 800, { 100, 100, MR_THUMB_CROP }, 0, 100, 100,
		  0, 200, 400, 600 },
		/* An original shorter than the box keeps the box's aspect. */
		{ 1000, 50, { 96, 96, MR_THUMB_CROP }, 0, 50, 50,
		  475, 0, 525, 50 },
		/* Extreme aspect: at least one pixel. */
		{ 10000, 1, { 32, 32, MR_THUMB_SCALE }, 0, 32, 1,
		  0, 0, 10000, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mr_thumb_plan p;

		mr_thumb_plan(cases[i].ow, cases[i].oh, &cases[i].spec, &p);
		assert_int_equal(p.use_original, cases[i].original);
		assert_int_equal(p.width, cases[i].w);
		assert_int_equal(p.height, cases[i].h);
		assert_true(p.x0 == cases[i].x0 && p.y0 == cases[i].y0);
		assert_true(p.x1 == cases[i].x1 && p.y1 == cases[i].y1);
	}
}

static void
test_check_refuses(void **state)
{
	static const unsigned char svg[] = "<svg xmlns=\"http://www.w3.org/"
	    "2000/svg\" width=\"10\" height=\"10\"></svg>";
	static const unsigned char text[] = "just some text";
	/* PNG signature, an IHDR of 50000 x 50000, empty IDAT and IEND. */
	static const unsigned char huge_png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
		0, 0, 0, 13, 'I', 'H', 'D', 'R',
		0, 0, 0xc3, 0x50, 0, 0, 0xc3, 0x50, 8, 6, 0, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0,
		0, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0,
	};
	struct mr_thumb_limits lim = {
		.max_pixels = 32 << 20, .max_animation_pixels = 256 << 20,
		.formats = ~0u, .jpeg_quality = 80,
	};
	struct mr_image_info info;
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_thumb_check(svg, sizeof(svg) - 1, &lim, &info,
	    &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(mr_thumb_check(text, sizeof(text) - 1, &lim, &info,
	    &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(mr_thumb_check(text, 0, &lim, &info, &err), -1);
	assert_int_equal(mr_thumb_check(huge_png, sizeof(huge_png), &lim,
	    &info, &err), -1);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.errcode, "M_TOO_LARGE");
	/* A format left out of the allow-list is refused, not decoded. */
	lim.formats = 1u << MR_IMAGE_JPEG;
	lim.max_pixels = INT64_C(1) << 40;
	assert_int_equal(mr_thumb_check(huge_png, sizeof(huge_png), &lim,
	    &info, &err), -1);
	assert_int_equal(err.status, 400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_pick_fallback),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_check_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
