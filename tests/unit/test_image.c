/*
 * test_image: header probing of images made by PIL (tests/fixtures/image)
 * and of hand-built byte strings, with hostile tables: lying sizes, cut
 * headers, every prefix and byte flips of every sample, each copied to a
 * buffer of its exact size so ASan sees any read past the end.
 *
 * Fixtures are found in $MR_IMAGE_FIXTURES if set, else next to this
 * source file (__FILE__/../../fixtures/image), else relative to the
 * current directory (tests/fixtures/image from the top, ../fixtures/image
 * from tests/unit). A missing fixture fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../common/image.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as bytes and length, without its NUL. */
#define BYTES(s) (const unsigned char *)(s), sizeof(s) - 1

struct expect {
	enum mr_image_format format;
	uint32_t width, height, frames;
	int animated, has_alpha, orientation, components, bit_depth;
};

static void
check_info(const char *name, const struct mr_image_info *got,
    const struct expect *want)
{
	if (got->format != want->format || got->width != want->width ||
	    got->height != want->height || got->frames != want->frames ||
	    got->animated != want->animated ||
	    got->has_alpha != want->has_alpha ||
	    got->orientation != want->orientation ||
	    got->components != want->components ||
	    got->bit_depth != want->bit_depth)
		fail_msg("%s: got %s %ux%u frames %u anim %d alpha %d orient %d "
		    "comp %d depth %d", name, mr_image_format_name(got->format),
		    got->width, got->height, got->frames, got->animated,
		    got->has_alpha, got->orientation, got->components,
		    got->bit_depth);
}

/* Probes a private copy of exactly len bytes, so over-reads are caught. */
static int
probe_exact(const unsigned char *b, size_t len, struct mr_image_info *info,
    struct mr_err *err)
{
	unsigned char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, b, len);
	rc = mr_image_probe(len > 0 ? copy : NULL, len, info, err);
	free(copy);
	return rc;
}

static void
check_ok(const char *name, const unsigned char *b, size_t len,
    const struct expect *want)
{
	struct mr_image_info info;
	struct mr_err err;

	mr_err_clear(&err);
	if (probe_exact(b, len, &info, &err) != 0)
		fail_msg("%s: probe failed: %s", name, err.msg);
	check_info(name, &info, want);
}

static void
check_fail(const char *name, const unsigned char *b, size_t len,
    const char *reason)
{
	static const struct mr_image_info zero;
	struct mr_image_info info;
	struct mr_err err;

	memset(&info, 0xa5, sizeof(info));
	mr_err_clear(&err);
	if (probe_exact(b, len, &info, &err) != -1)
		fail_msg("%s: probe succeeded as %s %ux%u", name,
		    mr_image_format_name(info.format), info.width, info.height);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.errcode, "M_UNKNOWN");
	if (strstr(err.msg, reason) == NULL)
		fail_msg("%s: reason '%s', want '%s'", name, err.msg, reason);
	assert_memory_equal(&info, &zero, sizeof(info));
}

/* --- fixtures --- */

static unsigned char *
fixture_load(const char *name, size_t *len)
{
	return fixture_find(__FILE__, "image", "MR_IMAGE_FIXTURES", name, len);
}

#define JPG(o) { "orient_" #o "_5x3.jpg", \
	{ MR_IMAGE_JPEG, 5, 3, 1, 0, 0, o, 3, 8 } }

static const struct {
	const char *name;
	struct expect want;
} fixtures[] = {
	{ "rgba_3x2.png", { MR_IMAGE_PNG, 3, 2, 1, 0, 1, 1, 4, 8 } },
	{ "palette_trns_4x5.png", { MR_IMAGE_PNG, 4, 5, 1, 0, 1, 1, 3, 8 } },
	{ "gray16_7x3.png", { MR_IMAGE_PNG, 7, 3, 1, 0, 0, 1, 1, 16 } },
	{ "anim_3f_6x4.png", { MR_IMAGE_PNG, 6, 4, 3, 1, 1, 1, 4, 8 } },
	JPG(1), JPG(2), JPG(3), JPG(4), JPG(5), JPG(6), JPG(7), JPG(8),
	{ "cmyk_4x4.jpg", { MR_IMAGE_JPEG, 4, 4, 1, 0, 0, 1, 4, 8 } },
	{ "still_8x6.gif", { MR_IMAGE_GIF, 8, 6, 1, 0, 0, 1, 0, 0 } },
	{ "anim_3f_trans_8x6.gif", { MR_IMAGE_GIF, 8, 6, 3, 1, 1, 1, 0, 0 } },
	{ "lossy_9x7.webp", { MR_IMAGE_WEBP, 9, 7, 1, 0, 0, 1, 0, 0 } },
	{ "lossless_alpha_5x4.webp", { MR_IMAGE_WEBP, 5, 4, 1, 0, 1, 1, 0, 0 } },
	{ "anim_3f_10x8.webp", { MR_IMAGE_WEBP, 10, 8, 3, 1, 0, 1, 0, 0 } },
	{ "rgb24_5x3.bmp", { MR_IMAGE_BMP, 5, 3, 1, 0, 0, 1, 0, 0 } },
	{ "topdown_5x3.bmp", { MR_IMAGE_BMP, 5, 3, 1, 0, 0, 1, 0, 0 } },
	{ "rgb_ii_6x5.tif", { MR_IMAGE_TIFF, 6, 5, 1, 0, 0, 1, 0, 0 } },
	{ "rgba_ii_6x5.tif", { MR_IMAGE_TIFF, 6, 5, 1, 0, 1, 1, 0, 0 } },
	{ "la_mm_6x5.tif", { MR_IMAGE_TIFF, 6, 5, 1, 0, 1, 1, 0, 0 } },
	{ "tiny.svg", { MR_IMAGE_SVG, 0, 0, 1, 0, 0, 1, 0, 0 } },
};

static void
test_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(fixtures); i++) {
		size_t len;
		unsigned char *b = fixture_load(fixtures[i].name, &len);

		check_ok(fixtures[i].name, b, len, &fixtures[i].want);
		free(b);
	}
}

/* --- hand-built samples --- */

#define SOF0_5x3 "\xff\xc0\x00\x11\x08\x00\x03\x00\x05\x03\x01\x22\x00" \
	"\x02\x11\x01\x03\x11\x01"
#define PNG_SIG "\x89PNG\r\n\x1a\n"
#define IDAT0 "\0\0\0\0IDAT\0\0\0\0"

static const struct {
	const char *name;
	const unsigned char *b;
	size_t len;
	struct expect want;
} built[] = {
	{ "exif ii orientation 3", BYTES("\xff\xd8\xff\xe1\x00\x22" "Exif\0\0"
	    "II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x03\0\0\0"
	    "\0\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 3, 3, 8 } },
	{ "exif mm orientation 8", BYTES("\xff\xd8\xff\xe1\x00\x22" "Exif\0\0"
	    "MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0"
	    "\0\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 8, 3, 8 } },
	/* Count 0xffff is cut to the one entry the segment holds. */
	{ "exif count past end", BYTES("\xff\xd8\xff\xe1\x00\x22" "Exif\0\0"
	    "II*\0\x08\0\0\0\xff\xff\x12\x01\x03\0\x01\0\0\0\x06\0\0\0"
	    "\0\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 6, 3, 8 } },
	/* Next-IFD points back at IFD0: never followed. */
	{ "exif offset loop", BYTES("\xff\xd8\xff\xe1\x00\x22" "Exif\0\0"
	    "II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x05\0\0\0"
	    "\x08\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 5, 3, 8 } },
	{ "exif ifd past end", BYTES("\xff\xd8\xff\xe1\x00\x10" "Exif\0\0"
	    "II*\0\xff\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "exif orientation 9", BYTES("\xff\xd8\xff\xe1\x00\x22" "Exif\0\0"
	    "II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x09\0\0\0"
	    "\0\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "exif orientation as long", BYTES("\xff\xd8\xff\xe1\x00\x22"
	    "Exif\0\0" "II*\0\x08\0\0\0\x01\0\x12\x01\x04\0\x01\0\0\0"
	    "\x06\0\0\0\0\0\0\0" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	/* The first 0x0112 decides even when unusable, as in libexif. */
	{ "exif orientation of 2 shorts, then 1", BYTES("\xff\xd8\xff\xe1\x00\x2e"
	    "Exif\0\0" "II*\0\x08\0\0\0\x02\0\x12\x01\x03\0\x02\0\0\0"
	    "\x06\0\0\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0"
	    SOF0_5x3), { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "exif orientation twice", BYTES("\xff\xd8\xff\xe1\x00\x2e"
	    "Exif\0\0" "II*\0\x08\0\0\0\x02\0\x12\x01\x03\0\x01\0\0\0"
	    "\x03\0\0\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0"
	    SOF0_5x3), { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 3, 3, 8 } },
	/* "Exif" without its two NULs is not Exif (once a read past the end). */
	{ "exif tag cut short", BYTES("\xff\xd8\xff\xe1\x00\x06" "Exif"
	    SOF0_5x3), { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "exif tiff header cut short", BYTES("\xff\xd8\xff\xe1\x00\x0b"
	    "Exif\0\0" "II*" SOF0_5x3),
	    { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "jpeg fill bytes and rst", BYTES("\xff\xd8\xff\xff\xff\xd0\xff\x01"
	    SOF0_5x3), { MR_IMAGE_JPEG, 5, 3, 1, 0, 0, 1, 3, 8 } },
	{ "jpeg sof2 12-bit", BYTES("\xff\xd8\xff\xc2\x00\x0b\x0c\x00\x02\x00"
	    "\x01\x01\x01\x11\x00"), { MR_IMAGE_JPEG, 1, 2, 1, 0, 0, 1, 1, 12 } },
	/* Probing reports; refusing is the caller's job. */
	{ "jpeg sof 65500x65500", BYTES("\xff\xd8\xff\xc0\x00\x11\x08\xff\xdc"
	    "\xff\xdc\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"),
	    { MR_IMAGE_JPEG, 65500, 65500, 1, 0, 0, 1, 3, 8 } },
	{ "png 50000x50000", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\xc3\x50\0\0\xc3"
	    "\x50\x08\x06\0\0\0CRC!" IDAT0),
	    { MR_IMAGE_PNG, 50000, 50000, 1, 0, 1, 1, 4, 8 } },
	{ "png max 31 bits", BYTES(PNG_SIG "\0\0\0\x0dIHDR\x7f\xff\xff\xff"
	    "\0\0\0\x01\x01\0\0\0\0CRC!" IDAT0),
	    { MR_IMAGE_PNG, 0x7fffffff, 1, 1, 0, 0, 1, 1, 1 } },
	{ "apng num_frames 0 is a still", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0"
	    "\x01\0\0\0\x01\x08\x02\0\0\0CRC!\0\0\0\x08" "acTL\0\0\0\0\0\0\0"
	    "\0CRC!" IDAT0), { MR_IMAGE_PNG, 1, 1, 1, 0, 0, 1, 3, 8 } },
	/* The APNG decoder refuses a second acTL; the first one counts. */
	{ "apng second actl ignored", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0"
	    "\x01\0\0\0\x01\x08\x02\0\0\0CRC!\0\0\0\x08" "acTL\0\0\0\0\0\0\0"
	    "\0CRC!\0\0\0\x08" "acTL\0\x01\0\0\0\0\0\0CRC!" IDAT0),
	    { MR_IMAGE_PNG, 1, 1, 1, 0, 0, 1, 3, 8 } },
	{ "gif junk after frame", BYTES("GIF89a\x02\0\x02\0\0\0\0"
	    "\x2c\0\0\0\0\x02\0\x02\0\0\x02\x01\x00\0" "junk"),
	    { MR_IMAGE_GIF, 2, 2, 1, 0, 0, 1, 0, 0 } },
	{ "gif cut inside lzw data", BYTES("GIF87a\x02\0\x02\0\0\0\0"
	    "\x2c\0\0\0\0\x02\0\x02\0\0\x02\x40\x00"),
	    { MR_IMAGE_GIF, 2, 2, 1, 0, 0, 1, 0, 0 } },
	{ "webp riff size larger than file", BYTES("RIFF\xff\xff\xff\xff"
	    "WEBPVP8L\x05\0\0\0\x2f\x02\x40\0\0"),
	    { MR_IMAGE_WEBP, 3, 2, 1, 0, 0, 1, 0, 0 } },
	{ "webp vp8l alpha hint", BYTES("RIFF\x12\0\0\0WEBPVP8L\x05\0\0\0\x2f"
	    "\x02\x40\0\x10"), { MR_IMAGE_WEBP, 3, 2, 1, 0, 1, 1, 0, 0 } },
	{ "webp vp8 lossy", BYTES("RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x10\0\0"
	    "\x9d\x01\x2a\x07\x40\x05\x80"),
	    { MR_IMAGE_WEBP, 7, 5, 1, 0, 0, 1, 0, 0 } },
	/* The last ANMF claims more than is there: counted, walk ends. */
	{ "webp anim last frame cut", BYTES("RIFF\x40\0\0\0WEBPVP8X\x0a\0\0\0"
	    "\x12\0\0\0\x3f\x1f\0\x3f\x1f\0ANIM\x06\0\0\0\0\0\0\0\0\0"
	    "ANMF\x01\0\0\0\0\0ANMF\0\0\0\0ANMF\xff\0\0\0"),
	    { MR_IMAGE_WEBP, 8000, 8000, 3, 1, 1, 1, 0, 0 } },
	{ "bmp os/2 core header", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x0c\0\0\0\x07\0\x09\0\x01\0\x08\0"),
	    { MR_IMAGE_BMP, 7, 9, 1, 0, 0, 1, 0, 0 } },
	{ "bmp height int32 min", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x28\0\0\0\x01\0\0\0\0\0\0\x80\x01\0\x18\0\0\0\0\0"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
	    { MR_IMAGE_BMP, 1, 0x80000000UL, 1, 0, 0, 1, 0, 0 } },
	{ "bmp v4 32-bit alpha mask", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x6c\0\0\0\x02\0\0\0\x02\0\0\0\x01\0\x20\0\x03\0\0\0"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\0\0\xff\0\0\xff\0\0\xff\0\0\0\0\0\0\xff"),
	    { MR_IMAGE_BMP, 2, 2, 1, 0, 1, 1, 0, 0 } },
	{ "bmp v1 32-bit no alpha", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x28\0\0\0\x02\0\0\0\x02\0\0\0\x01\0\x20\0\x03\0\0\0"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\0\0\xff\0\0\xff\0\0\xff\0\0\0\0\0\0\xff"),
	    { MR_IMAGE_BMP, 2, 2, 1, 0, 0, 1, 0, 0 } },
	{ "tiff mm long width", BYTES("MM\0*\0\0\0\x08\0\x02\x01\0\0\x04\0\0"
	    "\0\x01\0\x01\x11\x70\x01\x01\0\x03\0\0\0\x01\0\x03\0\0"),
	    { MR_IMAGE_TIFF, 70000, 3, 1, 0, 0, 1, 0, 0 } },
	{ "tiff ii count past end", BYTES("II*\0\x08\0\0\0\xff\xff\0\x01\x03\0"
	    "\x01\0\0\0\x04\0\0\0\x01\x01\x03\0\x01\0\0\0\x02\0\0\0"),
	    { MR_IMAGE_TIFF, 4, 2, 1, 0, 0, 1, 0, 0 } },
	{ "svg bare", BYTES("<svg/>"), { MR_IMAGE_SVG, 0, 0, 1, 0, 0, 1, 0, 0 } },
	{ "svg bom space", BYTES("\xef\xbb\xbf \r\n\t<svg xmlns='x'>"),
	    { MR_IMAGE_SVG, 0, 0, 1, 0, 0, 1, 0, 0 } },
	{ "svg doctype subset", BYTES("<?xml version='1.0'?><!DOCTYPE svg "
	    "PUBLIC 'a' 'b'><!-- <x> --><svg>"),
	    { MR_IMAGE_SVG, 0, 0, 1, 0, 0, 1, 0, 0 } },
	{ "svg after other prolog text", BYTES("<?xml version='1.0'?>\n"
	    "<?xml-stylesheet href='a'?><foo/><svg width='1'>"),
	    { MR_IMAGE_SVG, 0, 0, 1, 0, 0, 1, 0, 0 } },
};

static void
test_built(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(built); i++)
		check_ok(built[i].name, built[i].b, built[i].len, &built[i].want);
}

/* --- TIFF, built entry by entry --- */

struct tiff_entry {
	uint16_t tag, type;
	uint32_t count, value;	/* SHORT values go in the first two bytes */
};

/* A TIFF header and IFD0 holding entries, in either byte order. */
static size_t
tiff_build(unsigned char *b, size_t cap, int be, const struct tiff_entry *e,
    size_t n)
{
	size_t len = 8 + 2 + n * 12 + 4;
	unsigned char *p = b;

	assert_true(len <= cap);
	memset(b, 0, len);
#define PUT(v, k) do { \
	for (int i_ = 0; i_ < (k); i_++) \
		*p++ = (unsigned char)((v) >> (8 * (be ? (k) - 1 - i_ : i_))); \
} while (0)
	memcpy(p, be ? "MM\0*" : "II*\0", 4);
	p += 4;
	PUT(8u, 4);
	PUT((unsigned)n, 2);
	for (size_t i = 0; i < n; i++) {
		PUT(e[i].tag, 2);
		PUT(e[i].type, 2);
		PUT(e[i].count, 4);
		if (e[i].type == 3) {
			PUT(e[i].value, 2);
			p += 2;
		} else
			PUT(e[i].value, 4);
	}
#undef PUT
	return len;
}

#define T_SHORT(tag, v) { tag, 3, 1, v }
#define T_LONG(tag, v) { tag, 4, 1, v }

/*
 * libtiff reads the first of repeated tags; the probe used to keep the
 * last, so "8000x8000, then 1x1" passed the pixel limit as 1x1 and was
 * decoded at 8000x8000. Repeats and sizes libtiff reads but the probe
 * cannot are refused now.
 */
static void
test_tiff_first_entry(void **state)
{
	static const struct {
		const char *name;
		struct tiff_entry e[6];
		size_t n;
		const char *reason;	/* NULL: 8000x8000 */
	} cases[] = {
		{ "plain", { T_LONG(256, 8000), T_LONG(257, 8000) }, 2, NULL },
		{ "short sizes", { T_SHORT(256, 8000), T_SHORT(257, 8000) }, 2,
		    NULL },
		{ "big then small", { T_LONG(256, 8000), T_LONG(257, 8000),
		    T_LONG(256, 1), T_LONG(257, 1) }, 4,
		    "tiff repeats its width or height" },
		{ "small then big", { T_LONG(256, 1), T_LONG(257, 1),
		    T_LONG(256, 8000), T_LONG(257, 8000) }, 4,
		    "tiff repeats its width or height" },
		{ "same width twice", { T_LONG(256, 8000), T_LONG(256, 8000),
		    T_LONG(257, 8000) }, 3, "tiff repeats its width or height" },
		{ "height repeated only", { T_LONG(256, 8000), T_LONG(257, 8000),
		    T_SHORT(257, 1) }, 3, "tiff repeats its width or height" },
		/* libtiff reads SSHORT (8) sizes; a probe that skipped the entry
		 * would take the next one. */
		{ "sshort then long", { { 256, 8, 1, 8000 }, T_LONG(256, 1),
		    T_LONG(257, 1) }, 3, "tiff width or height is not one short" },
		{ "short count 2", { { 256, 3, 2, 8000 }, T_LONG(257, 1) }, 2,
		    "tiff width or height is not one short or long" },
		{ "long count 0", { { 256, 4, 0, 8000 }, T_LONG(257, 1) }, 2,
		    "tiff width or height is not one short or long" },
	};
	unsigned char b[128];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		for (int be = 0; be <= 1; be++) {
			size_t len = tiff_build(b, sizeof(b), be, cases[i].e,
			    cases[i].n);
			struct expect want = { MR_IMAGE_TIFF, 8000, 8000, 1, 0, 0,
			    1, 0, 0 };
			char name[96];

			snprintf(name, sizeof(name), "tiff %s %s", cases[i].name,
			    be ? "mm" : "ii");
			if (cases[i].reason == NULL)
				check_ok(name, b, len, &want);
			else
				check_fail(name, b, len, cases[i].reason);
		}
	}
}

/* Only the first ExtraSamples counts, as for every tag in libtiff. */
static void
test_tiff_extra_samples(void **state)
{
	static const struct tiff_entry unspecified_first[] = {
		T_LONG(256, 2), T_LONG(257, 2), T_SHORT(338, 0), T_SHORT(338, 2)
	}, alpha_first[] = {
		T_LONG(256, 2), T_LONG(257, 2), T_SHORT(338, 1), T_SHORT(338, 0)
	};
	struct expect want = { MR_IMAGE_TIFF, 2, 2, 1, 0, 0, 1, 0, 0 };
	unsigned char b[128];
	size_t len;

	(void)state;
	len = tiff_build(b, sizeof(b), 0, unspecified_first, 4);
	check_ok("tiff extrasamples 0 then 2", b, len, &want);
	want.has_alpha = 1;
	len = tiff_build(b, sizeof(b), 1, alpha_first, 4);
	check_ok("tiff extrasamples 1 then 0", b, len, &want);
}

/* --- ISOBMFF, built box by box --- */

struct bb {
	unsigned char b[1024];
	size_t n;
};

static void
bb_put(struct bb *bb, const void *p, size_t n)
{
	assert_true(bb->n + n <= sizeof(bb->b));
	memcpy(bb->b + bb->n, p, n);
	bb->n += n;
}

static void
bb_be32(struct bb *bb, uint32_t v)
{
	unsigned char p[4] = { v >> 24, v >> 16, v >> 8, v };

	bb_put(bb, p, 4);
}

/* Opens a box with a placeholder size; box_close fills it in. */
static size_t
bb_box(struct bb *bb, const char *type)
{
	size_t at = bb->n;

	bb_be32(bb, 0);
	bb_put(bb, type, 4);
	return at;
}

static void
bb_close(struct bb *bb, size_t at)
{
	size_t n = bb->n - at;
	unsigned char p[4] = { n >> 24, n >> 16, n >> 8, n };

	memcpy(bb->b + at, p, 4);
}

static void
bb_ftyp(struct bb *bb, const char *brands)
{
	size_t at = bb_box(bb, "ftyp");

	bb_put(bb, brands, 4);
	bb_be32(bb, 0);
	bb_put(bb, brands + 4, strlen(brands + 4));
	bb_close(bb, at);
}

static void
bb_ispe(struct bb *bb, uint32_t w, uint32_t h)
{
	size_t at = bb_box(bb, "ispe");

	bb_be32(bb, 0);
	bb_be32(bb, w);
	bb_be32(bb, h);
	bb_close(bb, at);
}

enum heif_flavour { H_PLAIN, H_META_SIZE0, H_TWO_ISPE, H_ISPE_ZERO,
	H_ISPE_SHORT, H_MDAT_HUGE, H_BOX_TINY, H_FTYP_LARGE, H_TWO_META,
	H_MOOV, H_TWO_FTYP, H_TINY_THEN_META, H__MAX };

/* A second top-level meta whose only property says 8000x8000. */
static void
heif_meta_8000(struct bb *bb)
{
	size_t meta = bb_box(bb, "meta"), iprp, ipco;

	bb_be32(bb, 0);
	iprp = bb_box(bb, "iprp");
	ipco = bb_box(bb, "ipco");
	bb_ispe(bb, 8000, 8000);
	bb_close(bb, ipco);
	bb_close(bb, iprp);
	bb_close(bb, meta);
}

/* ftyp, an mdat first when asked, meta(hdlr, iprp(ipco(...))). */
static void
heif_build(struct bb *bb, const char *brands, enum heif_flavour fl)
{
	size_t meta, iprp, ipco, at;

	bb->n = 0;
	if (fl == H_FTYP_LARGE) {
		/* size 1 and a 64-bit largesize of the real 24 bytes */
		bb_be32(bb, 1);
		bb_put(bb, "ftyp", 4);
		bb_be32(bb, 0);
		bb_be32(bb, 24);
		bb_put(bb, brands, 4);
		bb_be32(bb, 0);
	} else
		bb_ftyp(bb, brands);
	if (fl == H_MDAT_HUGE) {
		bb_be32(bb, 1);
		bb_put(bb, "mdat", 4);
		bb_be32(bb, 0xffffffff);
		bb_be32(bb, 0xffffffff);
	} else if (fl == H_BOX_TINY) {
		bb_be32(bb, 4);
		bb_put(bb, "free", 4);
	}
	meta = bb_box(bb, "meta");
	bb_be32(bb, 0);
	at = bb_box(bb, "hdlr");
	bb_put(bb, "\0\0\0\0\0\0\0\0pict\0\0\0\0\0\0\0\0\0\0\0\0\0", 21);
	bb_close(bb, at);
	iprp = bb_box(bb, "iprp");
	ipco = bb_box(bb, "ipco");
	at = bb_box(bb, "colr");
	bb_put(bb, "nclx\0\x01\0\x01\0\x01\0", 11);
	bb_close(bb, at);
	if (fl == H_TWO_ISPE)
		bb_ispe(bb, 512, 512);
	if (fl == H_ISPE_ZERO)
		bb_ispe(bb, 0, 7);
	else if (fl == H_ISPE_SHORT) {
		at = bb_box(bb, "ispe");
		bb_be32(bb, 0);
		bb_close(bb, at);
	} else
		bb_ispe(bb, fl == H_TWO_ISPE ? 4032 : 3, fl == H_TWO_ISPE ?
		    3024 : 2);
	if (fl == H_TWO_ISPE)
		bb_ispe(bb, 256, 256);
	bb_close(bb, ipco);
	bb_close(bb, iprp);
	if (fl == H_META_SIZE0)
		memset(bb->b + meta, 0, 4);
	else
		bb_close(bb, meta);
	if (fl == H_TWO_META)
		heif_meta_8000(bb);
	else if (fl == H_MOOV)
		bb_close(bb, bb_box(bb, "moov"));
	else if (fl == H_TWO_FTYP)
		bb_ftyp(bb, brands);
	else if (fl == H_TINY_THEN_META) {
		/* Unreadable: libheif stops there, and so does the probe. */
		bb_be32(bb, 4);
		bb_put(bb, "free", 4);
		heif_meta_8000(bb);
	}
}

static void
test_isobmff(void **state)
{
	static const struct {
		const char *name, *brands;
		enum heif_flavour fl;
		struct expect want;
		const char *reason;	/* NULL: must succeed */
	} cases[] = {
		{ "avif", "avifmif1miaf", H_PLAIN,
		    { MR_IMAGE_AVIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "avif sequence", "avismsf1", H_PLAIN,
		    { MR_IMAGE_AVIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "heic", "heicmif1heic", H_PLAIN,
		    { MR_IMAGE_HEIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "mif1 alone", "mif1", H_PLAIN,
		    { MR_IMAGE_HEIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "avif preferred over mif1", "mif1mif1avif", H_PLAIN,
		    { MR_IMAGE_AVIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "meta size 0 runs to end", "heic", H_META_SIZE0,
		    { MR_IMAGE_HEIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "largest ispe wins", "heicmif1", H_TWO_ISPE,
		    { MR_IMAGE_HEIF, 4032, 3024, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "ftyp largesize", "avif", H_FTYP_LARGE,
		    { MR_IMAGE_AVIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "mp4 is not an image", "isomiso2mp41", H_PLAIN, { 0 },
		    "not a supported image" },
		{ "ispe zero", "avif", H_ISPE_ZERO, { 0 },
		    "heif has no image size" },
		{ "ispe short", "avif", H_ISPE_SHORT, { 0 },
		    "malformed heif property box" },
		{ "largesize past end", "avif", H_MDAT_HUGE, { 0 },
		    "heif has no item properties" },
		{ "box smaller than header", "avif", H_BOX_TINY, { 0 },
		    "heif has no item properties" },
		/* libheif 1.15 decodes the last meta, libavif refuses two. */
		{ "two meta boxes heic", "heic", H_TWO_META, { 0 },
		    "heif has more than one meta box" },
		{ "two meta boxes avif", "avif", H_TWO_META, { 0 },
		    "heif has more than one meta box" },
		/* libavif would decode the tracks, which the probe does not size. */
		{ "avif with tracks", "avif", H_MOOV, { 0 },
		    "avif image sequences are not supported" },
		{ "avis with tracks", "avismsf1", H_MOOV, { 0 },
		    "avif image sequences are not supported" },
		/* libheif 1.15 reads items only. */
		{ "heic with tracks", "heicmif1", H_MOOV,
		    { MR_IMAGE_HEIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
		{ "two ftyp boxes", "heic", H_TWO_FTYP, { 0 },
		    "heif has more than one ftyp box" },
		{ "meta after an unreadable box", "heic", H_TINY_THEN_META,
		    { MR_IMAGE_HEIF, 3, 2, 1, 0, 0, 1, 0, 0 }, NULL },
	};
	struct bb bb;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		heif_build(&bb, cases[i].brands, cases[i].fl);
		if (cases[i].reason == NULL)
			check_ok(cases[i].name, bb.b, bb.n, &cases[i].want);
		else
			check_fail(cases[i].name, bb.b, bb.n, cases[i].reason);
	}
	/* ftyp whose size is 0 swallows the file: no meta follows. */
	heif_build(&bb, "avif", H_PLAIN);
	memset(bb.b, 0, 4);
	check_fail("ftyp size 0", bb.b, bb.n, "heif has no item properties");
	/* ftyp claiming more than the file. */
	heif_build(&bb, "avif", H_PLAIN);
	bb.b[2] = 0x10;
	check_fail("ftyp size lies", bb.b, bb.n, "not a supported image");
}

/* --- hostile input --- */

static const struct {
	const char *name;
	const unsigned char *b;
	size_t len;
	const char *reason;
} hostile[] = {
	{ "empty", BYTES(""), "not a supported image" },
	{ "one byte", BYTES("\xff"), "not a supported image" },
	{ "text", BYTES("hello, world"), "not a supported image" },
	{ "html", BYTES("<html><svg>"), "not a supported image" },
	{ "svg name prefix", BYTES("<svgx/>"), "not a supported image" },
	{ "unclosed comment", BYTES("<!-- <svg>"), "not a supported image" },
	{ "jpeg soi only", BYTES("\xff\xd8\xff"), "truncated jpeg header" },
	{ "jpeg segment length 0", BYTES("\xff\xd8\xff\xe0\x00\x00" SOF0_5x3),
	    "bad jpeg segment length" },
	{ "jpeg segment length 1", BYTES("\xff\xd8\xff\xe0\x00\x01" SOF0_5x3),
	    "bad jpeg segment length" },
	{ "jpeg segment past end", BYTES("\xff\xd8\xff\xe0\x40\x00" SOF0_5x3),
	    "truncated jpeg segment" },
	{ "jpeg sos before sof", BYTES("\xff\xd8\xff\xda\x00\x02" SOF0_5x3),
	    "jpeg scan before frame header" },
	{ "jpeg eoi before sof", BYTES("\xff\xd8\xff\xd9" SOF0_5x3),
	    "jpeg has no frame header" },
	{ "exif exactly four bytes", BYTES("\xff\xd8\xff\xe1\x00\x06"
	    "Exif\0\xda\0"), "malformed jpeg marker" },
	{ "jpeg stuffed zero", BYTES("\xff\xd8\xff\x00" SOF0_5x3),
	    "malformed jpeg marker" },
	{ "jpeg junk between segments", BYTES("\xff\xd8\xff\xe0\x00\x02"
	    "x" SOF0_5x3), "malformed jpeg marker" },
	{ "jpeg zero height (dnl)", BYTES("\xff\xd8\xff\xc0\x00\x11\x08\x00"
	    "\x00\x00\x05\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"),
	    "jpeg width or height is zero" },
	{ "jpeg sof short for components", BYTES("\xff\xd8\xff\xc0\x00\x0b"
	    "\x08\x00\x03\x00\x05\x03\x01\x22\x00"),
	    "truncated jpeg frame header" },
	{ "jpeg sof no components", BYTES("\xff\xd8\xff\xc0\x00\x08\x08\x00"
	    "\x03\x00\x05\x00"), "bad jpeg frame header" },
	{ "png signature only", BYTES(PNG_SIG), "truncated png header" },
	{ "png width 0", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\0\0\0\0\x01\x08"
	    "\x02\0\0\0CRC!" IDAT0), "png width or height is zero" },
	{ "png height 2^31", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\x80\0\0"
	    "\0\x08\x02\0\0\0CRC!" IDAT0), "png width or height is too large" },
	{ "png ihdr length 14", BYTES(PNG_SIG "\0\0\0\x0eIHDR\0\0\0\x01\0\0\0"
	    "\x01\x08\x02\0\0\0\0CRC!" IDAT0),
	    "png does not start with an ihdr chunk" },
	{ "png rgb depth 4", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\0\0\0"
	    "\x01\x04\x02\0\0\0CRC!" IDAT0), "bad png colour type" },
	{ "png iend before idat", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\0\0"
	    "\0\x01\x08\x02\0\0\0CRC!\0\0\0\0IEND\xae\x42\x60\x82"),
	    "png has no image data" },
	{ "png chunk past end", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\0\0"
	    "\0\x01\x08\x02\0\0\0CRC!\0\0\x10\0tEXt" IDAT0),
	    "truncated png chunk" },
	{ "png chunk length 2^31", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\0"
	    "\0\0\x01\x08\x02\0\0\0CRC!\x80\0\0\0tEXt" IDAT0),
	    "bad png chunk length" },
	{ "png no idat", BYTES(PNG_SIG "\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01"
	    "\x08\x02\0\0\0CRC!"), "truncated png chunk" },
	{ "gif header only", BYTES("GIF89a\x02\0\x02\0\0\0\0"),
	    "gif has no image" },
	{ "gif trailer only", BYTES("GIF89a\x02\0\x02\0\x80\0\0"
	    "\0\0\0\xff\xff\xff\x3b"), "gif has no image" },
	{ "gif table cut", BYTES("GIF89a\x02\0\x02\0\x87\0\0\0\0\0"),
	    "gif has no image" },
	{ "gif zero screen", BYTES("GIF89a\0\0\x02\0\0\0\0"
	    "\x2c\0\0\0\0\x02\0\x02\0\0\x02\x01\x00\0;"),
	    "gif width or height is zero" },
	{ "gif frame off the plane", BYTES("GIF89a\x02\0\x02\0\0\0\0"
	    "\x2c\xff\xff\0\0\x02\0\x02\0\0\x02\x01\x00\0;"),
	    "gif frame is outside the 16-bit plane" },
	{ "webp riff size 4", BYTES("RIFF\x04\0\0\0WEBPVP8L\x05\0\0\0\x2f"
	    "\x02\x40\0\0"), "bad webp riff size" },
	{ "webp riff size cuts chunk", BYTES("RIFF\x0c\0\0\0WEBPVP8L\x05\0\0"
	    "\0\x2f\x02\x40\0\0"), "truncated webp header" },
	{ "webp vp8l cut", BYTES("RIFF\xff\0\0\0WEBPVP8L\x05\0\0\0\x2f\x02"),
	    "truncated webp header" },
	{ "webp vp8l bad signature", BYTES("RIFF\x12\0\0\0WEBPVP8L\x05\0\0\0"
	    "\x2e\x02\x40\0\0"), "bad webp lossless header" },
	{ "webp vp8l version 1", BYTES("RIFF\x12\0\0\0WEBPVP8L\x05\0\0\0\x2f"
	    "\x02\x40\0\x20"), "bad webp lossless header" },
	{ "webp vp8 interframe", BYTES("RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x11"
	    "\0\0\x9d\x01\x2a\x07\x40\x05\x80"), "bad webp lossy header" },
	{ "webp vp8 zero width", BYTES("RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x10"
	    "\0\0\x9d\x01\x2a\0\x40\x05\x80"), "webp width or height is zero" },
	{ "webp anim no frames", BYTES("RIFF\x1e\0\0\0WEBPVP8X\x0a\0\0\0"
	    "\x02\0\0\0\0\0\0\0\0\0ANIM\0\0\0\0"),
	    "animated webp has no frames" },
	{ "webp vp8x size lies", BYTES("RIFF\x1e\0\0\0WEBPVP8X\xff\0\0\0"
	    "\x02\0\0\0\0\0\0\0\0\0ANMF\0\0\0\0"), "truncated webp header" },
	{ "webp unknown chunk", BYTES("RIFF\x12\0\0\0WEBPXXXX\x05\0\0\0\x2f"
	    "\x02\x40\0\0"), "unknown webp chunk" },
	{ "bmp cut", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0"),
	    "truncated bmp header" },
	{ "bmp v1 cut", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0\0\0\x01\0\0"
	    "\0\x01\0\0\0\x01\0\x18\0"), "truncated bmp header" },
	{ "bmp header size 20", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0\x14\0\0\0"
	    "\x01\0\0\0\x01\0\0\0\x01\0\x18\0\0\0\0\0"),
	    "unsupported bmp header size 20" },
	{ "bmp depth 0 (embedded png)", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x0c\0\0\0\x07\0\x09\0\x01\0\x00\0"),
	    "unsupported bmp bit depth 0" },
	{ "bmp negative width", BYTES("BM\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\x28\0\0\0\xff\xff\xff\xff\x01\0\0\0\x01\0\x18\0\0\0\0\0"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
	    "bmp width or height is not positive" },
	{ "tiff header only", BYTES("II*\0"), "truncated tiff header" },
	{ "tiff magic needs its nul", BYTES("MM\x01*\0\0\0\x08"),
	    "not a supported image" },
	{ "tiff magic ii star x", BYTES("II*x\x08\0\0\0"),
	    "not a supported image" },
	{ "tiff ifd past end", BYTES("II*\0\xff\0\0\0\0\0"),
	    "truncated tiff header" },
	{ "tiff no height", BYTES("II*\0\x08\0\0\0\x01\0\0\x01\x03\0\x01\0\0"
	    "\0\x04\0\0\0"), "tiff width or height is missing or zero" },
	{ "tiff width as rational", BYTES("II*\0\x08\0\0\0\x02\0\0\x01\x05\0"
	    "\x01\0\0\0\x04\0\0\0\x01\x01\x03\0\x01\0\0\0\x02\0\0\0"),
	    "tiff width or height is not one short or long" },
	{ "ftyp only", BYTES("\0\0\0\x10" "ftypavif\0\0\0\0"),
	    "heif has no item properties" },
	{ "ftyp box size 4", BYTES("\0\0\0\x04" "ftypavif\0\0\0\0"),
	    "not a supported image" },
};

static void
test_hostile(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(hostile); i++)
		check_fail(hostile[i].name, hostile[i].b, hostile[i].len,
		    hostile[i].reason);
}

/* Header, then n frames of 10-byte descriptor + code size + 1-byte data. */
static void
test_gif_10000_frames(void **state)
{
	static const unsigned char head[] = "GIF89a\x40\0\x40\0\x80\0\0"
	    "\0\0\0\xff\xff\xff" "!\xf9\x04\x01\0\0\0\0";
	static const unsigned char frame[] = "\x2c\0\0\0\0\x01\0\x01\0\0"
	    "\x02\x01\x44\0";
	const size_t n = 10000, hl = sizeof(head) - 1, fl = sizeof(frame) - 1;
	size_t len = hl + n * fl + 1;
	unsigned char *b = malloc(len);
	struct expect want = { MR_IMAGE_GIF, 64, 64, 10000, 1, 1, 1, 0, 0 };

	(void)state;
	assert_non_null(b);
	memcpy(b, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(b + hl + i * fl, frame, fl);
	b[len - 1] = 0x3b;
	check_ok("gif 10000 frames", b, len, &want);
	/* Without the trailer, and cut mid-frame, the count is what was seen. */
	want.frames = 9999;
	check_ok("gif cut in last descriptor", b, len - 10, &want);
	free(b);
}

/* -1 with a 400 and nothing filled, or 0 with plausible fields. */
static void
sane(const char *name, const char *what, size_t at, const unsigned char *b,
    size_t len)
{
	struct mr_image_info info;
	struct mr_err err;

	mr_err_clear(&err);
	if (probe_exact(b, len, &info, &err) < 0) {
		if (err.status != 400 || info.format != MR_IMAGE_UNKNOWN)
			fail_msg("%s: %s %zu: bad failure", name, what, at);
		return;
	}
	if (info.format == MR_IMAGE_UNKNOWN || info.frames == 0 ||
	    info.orientation < 1 || info.orientation > 8 ||
	    (info.format != MR_IMAGE_SVG && (info.width == 0 ||
	    info.height == 0)))
		fail_msg("%s: %s %zu: implausible %s %ux%u", name, what, at,
		    mr_image_format_name(info.format), info.width, info.height);
}

/*
 * Every prefix and a few byte changes of every sample must give -1 or a
 * plausible result; ASan watches the reads since each probe gets an
 * exact-size copy.
 */
static void
torture(const char *name, const unsigned char *b, size_t len)
{
	static const unsigned char subst[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	unsigned char *m = malloc(len > 0 ? len : 1);

	assert_non_null(m);
	for (size_t cut = 0; cut <= len; cut++)
		sane(name, "prefix", cut, b, cut);
	for (size_t i = 0; i < len && i < 512; i++) {
		for (size_t k = 0; k < NELEM(subst); k++) {
			memcpy(m, b, len);
			m[i] = subst[k];
			sane(name, "byte", i, m, len);
		}
	}
	free(m);
}

static void
test_torture(void **state)
{
	struct bb bb;

	(void)state;
	for (size_t i = 0; i < NELEM(fixtures); i++) {
		size_t len;
		unsigned char *b = fixture_load(fixtures[i].name, &len);

		torture(fixtures[i].name, b, len);
		free(b);
	}
	for (size_t i = 0; i < NELEM(built); i++)
		torture(built[i].name, built[i].b, built[i].len);
	for (size_t i = 0; i < NELEM(hostile); i++)
		torture(hostile[i].name, hostile[i].b, hostile[i].len);
	for (int fl = H_PLAIN; fl < H__MAX; fl++) {
		heif_build(&bb, "avifmif1", (enum heif_flavour)fl);
		torture("heif", bb.b, bb.n);
	}
}

static void
test_names(void **state)
{
	static const struct {
		enum mr_image_format f;
		const char *name, *mime;
	} names[] = {
		{ MR_IMAGE_JPEG, "jpeg", "image/jpeg" },
		{ MR_IMAGE_PNG, "png", "image/png" },
		{ MR_IMAGE_GIF, "gif", "image/gif" },
		{ MR_IMAGE_WEBP, "webp", "image/webp" },
		{ MR_IMAGE_BMP, "bmp", "image/bmp" },
		{ MR_IMAGE_TIFF, "tiff", "image/tiff" },
		{ MR_IMAGE_AVIF, "avif", "image/avif" },
		{ MR_IMAGE_HEIF, "heif", "image/heif" },
		{ MR_IMAGE_SVG, "svg", "image/svg+xml" },
	};
	static const char *const unknown[] = {
		"", "unknown", "jpg", "png ", " png", "pngx", "pn", "image/png",
		"svg+xml", "j\xc3\xa9peg",
	};

	(void)state;
	for (size_t i = 0; i < NELEM(names); i++) {
		assert_string_equal(mr_image_format_name(names[i].f),
		    names[i].name);
		assert_string_equal(mr_image_mime(names[i].f), names[i].mime);
		assert_int_equal(mr_image_format_from_name(names[i].name),
		    names[i].f);
	}
	assert_int_equal(mr_image_format_from_name("JPEG"), MR_IMAGE_JPEG);
	assert_int_equal(mr_image_format_from_name("WebP"), MR_IMAGE_WEBP);
	for (size_t i = 0; i < NELEM(unknown); i++)
		assert_int_equal(mr_image_format_from_name(unknown[i]),
		    MR_IMAGE_UNKNOWN);
	assert_int_equal(mr_image_format_from_name(NULL), MR_IMAGE_UNKNOWN);
	assert_string_equal(mr_image_format_name(MR_IMAGE_UNKNOWN), "unknown");
	assert_string_equal(mr_image_format_name((enum mr_image_format)99),
	    "unknown");
	assert_string_equal(mr_image_mime(MR_IMAGE_UNKNOWN),
	    "application/octet-stream");
	assert_string_equal(mr_image_mime((enum mr_image_format)-1),
	    "application/octet-stream");
}

static void
test_null_buffer(void **state)
{
	struct mr_image_info info;
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_image_probe(NULL, 0, &info, &err), -1);
	assert_string_equal(err.msg, "not a supported image");
	assert_int_equal(info.format, MR_IMAGE_UNKNOWN);
	/* A NULL error record is allowed, as with mr_err_set. */
	assert_int_equal(mr_image_probe(NULL, 0, &info, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_built),
		cmocka_unit_test(test_tiff_first_entry),
		cmocka_unit_test(test_tiff_extra_samples),
		cmocka_unit_test(test_isobmff),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_gif_10000_frames),
		cmocka_unit_test(test_torture),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_null_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
