/*
 * fuzz_image_isobmff: the AVIF/HEIF box walk of mr_image_probe. The first
 * input byte picks the ftyp brands; the rest are the top-level boxes that
 * follow. A success is checked here with a plain walk of the top level:
 * one 'meta' box and one 'ftyp' (libheif decodes the last of several,
 * libavif refuses them), no 'moov' in AVIF (libavif would decode tracks
 * the probe does not size), and the reported size is the size of some
 * 'ispe' in the file, never an invented one.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz_image_isobmff \
 *     tests/fuzz/fuzz_image_isobmff.c common/image.c common/util.c
 * ./fuzz_image_isobmff tests/fuzz/corpus/image_isobmff
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ftyp: size 24, type, major brand, minor version 0, one compatible. */
static const char *const brands[] = {
	"avifavif", "heicmif1", "avismsf1", "mif1heic", "isomavif",
};

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Counts top-level boxes of a type until the end or an unreadable box. */
static int
top_count(const uint8_t *b, size_t len, const char *type)
{
	size_t off = 0;
	int n = 0;

	while (len - off >= 8) {
		uint64_t size = be32(b + off), hdr = 8;

		if (size == 1) {
			if (len - off < 16)
				break;
			size = (uint64_t)be32(b + off + 8) << 32 |
			    be32(b + off + 12);
			hdr = 16;
		} else if (size == 0)
			size = len - off;
		if (size < hdr || size > len - off)
			break;
		n += memcmp(b + off + 4, type, 4) == 0;
		off += (size_t)size;
	}
	return n;
}

/*
 * 1 when some 'ispe' in the bytes says w x h: after the type come the
 * version and flags, then the sizes; with a 64-bit size field (size 1)
 * eight more bytes come first.
 */
static int
ispe_says(const uint8_t *b, size_t len, uint32_t w, uint32_t h)
{
	for (size_t i = 4; i + 16 <= len; i++) {
		size_t at = i + 8 + (be32(b + i - 4) == 1 ? 8 : 0);

		if (memcmp(b + i, "ispe", 4) == 0 && at + 8 <= len &&
		    be32(b + at) == w && be32(b + at + 4) == h)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_image_info info;
	struct mr_err err;
	const char *br;
	size_t len;
	uint8_t *b;

	if (size < 1 || size > (1 << 20))
		return 0;
	br = brands[data[0] % (sizeof(brands) / sizeof(brands[0]))];
	len = 24 + size - 1;
	if ((b = malloc(len)) == NULL)
		return 0;
	memcpy(b, "\0\0\0\x18" "ftyp", 8);
	memcpy(b + 8, br, 4);
	memset(b + 12, 0, 4);
	memcpy(b + 16, br + 4, 4);
	memcpy(b + 20, br, 4);
	memcpy(b + 24, data + 1, size - 1);
	if (mr_image_probe(b, len, &info, &err) < 0) {
		if (err.status != 400 || info.format != MR_IMAGE_UNKNOWN)
			abort();
		free(b);
		return 0;
	}
	if ((info.format != MR_IMAGE_AVIF && info.format != MR_IMAGE_HEIF) ||
	    info.width == 0 || info.height == 0 || info.frames != 1)
		abort();
	if (top_count(b, len, "meta") != 1 || top_count(b, len, "ftyp") != 1 ||
	    (info.format == MR_IMAGE_AVIF && top_count(b, len, "moov") != 0))
		abort();
	if (!ispe_says(b, len, info.width, info.height))
		abort();
	free(b);
	return 0;
}
