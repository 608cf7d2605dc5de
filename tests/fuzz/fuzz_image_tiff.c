/*
 * fuzz_image_tiff: mr_image_probe on TIFF only. The first input byte picks
 * the byte order ("II*\0" when even, "MM\0*" when odd); the rest is the
 * file from offset 4 (IFD offset, then anything). Besides the contract of
 * fuzz_image, a success is checked against a plain reading of IFD0 done
 * here: exactly one ImageWidth and one ImageLength entry, each one inline
 * SHORT or LONG, and those are the sizes reported. libtiff reads the
 * first of repeated tags, so a probe that reads any other (or guesses
 * with two) lets a decoder see a size the pixel limit never saw.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz_image_tiff \
 *     tests/fuzz/fuzz_image_tiff.c common/image.c common/util.c
 * ./fuzz_image_tiff tests/fuzz/corpus/image_tiff
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
rd(const uint8_t *p, int n, int be)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint32_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

/* Counts entries of tag in IFD0 and keeps the value of a usable one. */
static int
reference(const uint8_t *b, size_t len, int be, uint32_t tag,
    uint32_t *value)
{
	uint32_t ifd = rd(b + 4, 4, be), n;
	int seen = 0;

	if (len < 8 || ifd > len || len - ifd < 2)
		return -1;
	n = rd(b + ifd, 2, be);
	for (uint32_t i = 0; i < n && (size_t)ifd + 2 + (i + 1) * 12 <= len;
	    i++) {
		const uint8_t *e = b + ifd + 2 + (size_t)i * 12;
		uint32_t type = rd(e + 2, 2, be), count = rd(e + 4, 4, be);

		if (rd(e, 2, be) != tag)
			continue;
		seen++;
		if (count == 1 && (type == 3 || type == 4))
			*value = rd(e + 8, type == 3 ? 2 : 4, be);
		else
			*value = 0;
	}
	return seen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_image_info info;
	struct mr_err err;
	uint8_t *b;
	uint32_t w = 0, h = 0;
	int be;

	if (size < 1 || size > (1 << 20))
		return 0;
	be = data[0] & 1;
	if ((b = malloc(size + 3)) == NULL)
		return 0;
	memcpy(b, be ? "MM\0*" : "II*\0", 4);
	memcpy(b + 4, data + 1, size - 1);
	if (mr_image_probe(b, size + 3, &info, &err) < 0) {
		if (err.status != 400 || info.format != MR_IMAGE_UNKNOWN)
			abort();
		free(b);
		return 0;
	}
	if (info.format != MR_IMAGE_TIFF || info.frames != 1 ||
	    info.orientation != 1 || info.animated)
		abort();
	if (reference(b, size + 3, be, 256, &w) != 1 ||
	    reference(b, size + 3, be, 257, &h) != 1 ||
	    w == 0 || h == 0 || info.width != w || info.height != h)
		abort();
	free(b);
	return 0;
}
