/*
 * fuzz_image_exif: the Exif reader of mr_image_probe. The input, after a
 * first byte that picks the byte order, becomes the TIFF structure of an
 * APP1 "Exif" segment in a JPEG whose SOF0 says 5x3, so every input is a
 * JPEG that must probe. Checked: the size is the SOF's whatever the Exif
 * holds, and the orientation is what a plain reading finds here: the
 * first 0x0112 entry of IFD0, when it is one SHORT of 1..8, else 1 (a
 * later entry never counts, as in libexif).
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz_image_exif \
 *     tests/fuzz/fuzz_image_exif.c common/image.c common/util.c
 * ./fuzz_image_exif tests/fuzz/corpus/image_exif
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t sof0_5x3[] = {
	0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x03, 0x00, 0x05, 0x03,
	0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
};

static uint32_t
rd(const uint8_t *p, int n, int be)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint32_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

/* The orientation an Exif reader that honours the first entry finds. */
static int
reference(const uint8_t *t, size_t len, int be)
{
	uint32_t ifd, n;

	if (len < 8)
		return 1;
	ifd = rd(t + 4, 4, be);
	if (ifd > len || len - ifd < 2)
		return 1;
	n = rd(t + ifd, 2, be);
	for (uint32_t i = 0; i < n && (size_t)ifd + 2 + (i + 1) * 12 <= len;
	    i++) {
		const uint8_t *e = t + ifd + 2 + (size_t)i * 12;
		uint32_t v = rd(e + 8, 2, be);

		if (rd(e, 2, be) != 0x0112)
			continue;
		return rd(e + 2, 2, be) == 3 && rd(e + 4, 4, be) == 1 &&
		    v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* SOI, APP1 header, "Exif\0\0", TIFF magic, body, SOF0. */
	size_t body = size > 0 ? size - 1 : 0, seg = 2 + 6 + 4 + body;
	size_t len = 2 + 2 + seg + sizeof(sof0_5x3);
	struct mr_image_info info;
	struct mr_err err;
	uint8_t *b, *p;
	int be;

	if (size < 1 || seg > 0xffff)
		return 0;
	be = data[0] & 1;
	if ((p = b = malloc(len)) == NULL)
		return 0;
	memcpy(p, "\xff\xd8\xff\xe1", 4);
	p[4] = (uint8_t)(seg >> 8);
	p[5] = (uint8_t)seg;
	memcpy(p + 6, "Exif\0\0", 6);
	memcpy(p + 12, be ? "MM\0*" : "II*\0", 4);
	memcpy(p + 16, data + 1, body);
	memcpy(p + 16 + body, sof0_5x3, sizeof(sof0_5x3));
	if (mr_image_probe(b, len, &info, &err) < 0)
		abort();	/* the JPEG around the Exif is valid */
	if (info.format != MR_IMAGE_JPEG || info.width != 5 ||
	    info.height != 3 || info.components != 3 ||
	    info.orientation != reference(b + 12, 4 + body, be))
		abort();
	free(b);
	return 0;
}
