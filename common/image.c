/*
 * image: format sniffing and header-only probing of untrusted image bytes
 * (see image.h). Every read is preceded by image_have(); no walk goes
 * backwards, so the work is linear in the input.
 */
#include "image.h"

#include <string.h>

#define IMAGE_ERR(err, ...) mr_err_set((err), 400, "M_UNKNOWN", __VA_ARGS__)

/* PNG keeps sizes to 31 bits (PNG spec 12.2), so a larger one is a lie. */
#define IMAGE_PNG_MAX 0x7fffffffUL

/* 1 when n bytes can be read at off in a buffer of len bytes. */
static int
image_have(size_t len, size_t off, size_t n)
{
	return off <= len && len - off >= n;
}

static uint32_t
image_be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
image_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
image_be64(const unsigned char *p)
{
	return (uint64_t)image_be32(p) << 32 | image_be32(p + 4);
}

static uint32_t
image_le16(const unsigned char *p)
{
	return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t
image_le24(const unsigned char *p)
{
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t
image_le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[1] << 8 | p[0];
}

/* Two's complement without relying on implementation-defined casts. */
static int64_t
image_s32(uint32_t v)
{
	return v > 0x7fffffffUL ? (int64_t)v - 0x100000000LL : (int64_t)v;
}

/* 1 when the n bytes of s are found at off, wholly inside len. */
static int
image_match(const unsigned char *b, size_t len, size_t off, const char *s,
    size_t n)
{
	return image_have(len, off, n) && memcmp(b + off, s, n) == 0;
}

/* For string literals, whose embedded NULs strlen would miss. */
#define image_at(b, len, off, lit) \
	image_match((b), (len), (off), (lit), sizeof(lit) - 1)

/* --- TIFF structures, shared by TIFF files and JPEG Exif --- */

struct image_tiff {
	const unsigned char *p;
	size_t len;
	int be;			/* "MM": big-endian */
	size_t ifd;		/* first entry of IFD0 */
	uint32_t count;		/* entries of IFD0 that fit in len */
};

static uint32_t
image_tiff16(const struct image_tiff *t, size_t off)
{
	return t->be ? image_be16(t->p + off) : image_le16(t->p + off);
}

static uint32_t
image_tiff32(const struct image_tiff *t, size_t off)
{
	return t->be ? image_be32(t->p + off) : image_le32(t->p + off);
}

/*
 * Opens IFD0. Only IFD0 is ever read and its next-IFD link is ignored, so
 * a hostile offset loop has nothing to loop on; an entry count larger
 * than the bytes left is cut to what is there.
 */
static int
image_tiff_open(const unsigned char *p, size_t len, struct image_tiff *t)
{
	size_t ifd;

	if (image_at(p, len, 0, "II*\0"))
		t->be = 0;
	else if (image_at(p, len, 0, "MM\0*"))
		t->be = 1;
	else
		return -1;
	t->p = p;
	t->len = len;
	if (!image_have(len, 0, 8))
		return -1;
	ifd = image_tiff32(t, 4);
	if (!image_have(len, ifd, 2))
		return -1;
	t->ifd = ifd + 2;
	t->count = image_tiff16(t, ifd);
	if (t->count > (len - t->ifd) / 12)
		t->count = (uint32_t)((len - t->ifd) / 12);
	return 0;
}

/*
 * Entry i of IFD0: its tag, and its first value when it is a SHORT or
 * LONG held inline (count small enough to fit the 4-byte field). Returns
 * the value count, or 0 when the value is not inline SHORT/LONG.
 */
static uint32_t
image_tiff_entry(const struct image_tiff *t, uint32_t i, uint32_t *tag,
    uint32_t *value)
{
	size_t e = t->ifd + (size_t)i * 12;
	uint32_t type, count;

	*tag = image_tiff16(t, e);
	type = image_tiff16(t, e + 2);
	count = image_tiff32(t, e + 4);
	if (type == 3 && count >= 1 && count <= 2)
		*value = image_tiff16(t, e + 8);
	else if (type == 4 && count == 1)
		*value = image_tiff32(t, e + 8);
	else
		return 0;
	return count;
}

/*
 * libtiff (inside libgd) reads the first of repeated tags and ignores the
 * rest, so a probe that kept the last one would pass "8000x8000, then
 * 1x1" under the pixel limit and the decoder would go on to the 8000x8000.
 * Rather than copy that rule, a repeated width or height is refused, and
 * so is one that libtiff would read but we cannot (anything but one SHORT
 * or LONG held inline): when in doubt about the size, there is no size.
 */
static int
image_tiff(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	struct image_tiff t;
	uint32_t tag, v = 0, n;
	int seen_w = 0, seen_h = 0, seen_extra = 0;

	out->format = MR_IMAGE_TIFF;
	if (image_tiff_open(b, len, &t) < 0)
		return IMAGE_ERR(err, "truncated tiff header");
	for (uint32_t i = 0; i < t.count; i++) {
		n = image_tiff_entry(&t, i, &tag, &v);
		if (tag == 256 || tag == 257) {
			int *seen = tag == 256 ? &seen_w : &seen_h;

			if ((*seen)++)
				return IMAGE_ERR(err, "tiff repeats its width or "
				    "height");
			if (n != 1)
				return IMAGE_ERR(err, "tiff width or height is not "
				    "one short or long");
			if (tag == 256)
				out->width = v;
			else
				out->height = v;
		} else if (tag == 338 && !seen_extra++ && n > 0 &&
		    (v == 1 || v == 2))
			out->has_alpha = 1;	/* associated or unassociated */
	}
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "tiff width or height is missing or zero");
	return 0;
}

/* --- JPEG (ITU T.81) --- */

/* SOF0-3, 5-7, 9-11, 13-15; C4 is DHT, C8 is JPG, CC is DAC. */
static int
image_jpeg_is_sof(unsigned int m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/*
 * APP1 body; orientation stays 1 on anything unexpected. The first 0x0112
 * entry decides, whatever it holds, as in libexif (which adds a tag once
 * and drops its repeats): a later one is never a second chance.
 */
static void
image_jpeg_exif(const unsigned char *p, size_t n, struct mr_image_info *out)
{
	struct image_tiff t;
	uint32_t tag, v = 0, count;

	if (!image_at(p, n, 0, "Exif\0\0") ||
	    image_tiff_open(p + 6, n - 6, &t) < 0)
		return;
	for (uint32_t i = 0; i < t.count; i++) {
		count = image_tiff_entry(&t, i, &tag, &v);
		if (tag != 0x0112)
			continue;
		if (count == 1 && image_tiff16(&t, t.ifd + (size_t)i * 12 +
		    2) == 3 && v >= 1 && v <= 8)
			out->orientation = (int)v;
		return;
	}
}

static int
image_jpeg_sof(const unsigned char *p, size_t n, struct mr_image_info *out,
    struct mr_err *err)
{
	if (n < 6 || n < 6 + (size_t)p[5] * 3)
		return IMAGE_ERR(err, "truncated jpeg frame header");
	out->bit_depth = p[0];
	out->height = image_be16(p + 1);
	out->width = image_be16(p + 3);
	out->components = p[5];
	/* A zero height means "see DNL", which we do not follow. */
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "jpeg width or height is zero");
	if (out->components == 0 || out->bit_depth == 0)
		return IMAGE_ERR(err, "bad jpeg frame header");
	return 0;
}

static int
image_jpeg(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	size_t off = 2, seglen;
	int exif_seen = 0;
	unsigned int m;

	out->format = MR_IMAGE_JPEG;
	for (;;) {
		if (off < len && b[off] != 0xff)
			return IMAGE_ERR(err, "malformed jpeg marker");
		/* Any number of 0xff fill bytes may precede a marker (B.1.1.2). */
		while (off < len && b[off] == 0xff)
			off++;
		if (off >= len)
			return IMAGE_ERR(err, "truncated jpeg header");
		m = b[off++];
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd8))
			continue;	/* TEM, RSTn, SOI stand alone */
		if (m == 0x00)
			return IMAGE_ERR(err, "malformed jpeg marker");
		if (m == 0xd9)
			return IMAGE_ERR(err, "jpeg has no frame header");
		if (!image_have(len, off, 2))
			return IMAGE_ERR(err, "truncated jpeg header");
		seglen = image_be16(b + off);
		if (seglen < 2)
			return IMAGE_ERR(err, "bad jpeg segment length");
		if (!image_have(len, off, seglen))
			return IMAGE_ERR(err, "truncated jpeg segment");
		if (image_jpeg_is_sof(m))
			return image_jpeg_sof(b + off + 2, seglen - 2, out, err);
		if (m == 0xda)
			return IMAGE_ERR(err, "jpeg scan before frame header");
		if (m == 0xe1 && !exif_seen && image_at(b, off + seglen, off + 2,
		    "Exif")) {
			/* Only the first Exif block counts, as in libexif. */
			exif_seen = 1;
			image_jpeg_exif(b + off + 2, seglen - 2, out);
		}
		off += seglen;
	}
}

/* --- PNG (ISO/IEC 15948) and APNG --- */

static const unsigned char image_png_sig[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

/* Channels per colour type, 0 for a bad type/depth pair (table 11.1). */
static int
image_png_channels(unsigned int ctype, unsigned int depth)
{
	switch (ctype) {
	case 0:
		return (depth == 1 || depth == 2 || depth == 4 || depth == 8 ||
		    depth == 16) ? 1 : 0;
	case 3:
		return (depth == 1 || depth == 2 || depth == 4 ||
		    depth == 8) ? 3 : 0;
	case 2:
	case 4:
	case 6:
		if (depth != 8 && depth != 16)
			return 0;
		return ctype == 2 ? 3 : ctype == 4 ? 2 : 4;
	default:
		return 0;
	}
}

/* Chunks before IDAT: acTL makes an APNG, tRNS adds alpha. */
static int
image_png_chunks(const unsigned char *b, size_t len, size_t off,
    struct mr_image_info *out, struct mr_err *err)
{
	uint32_t clen;
	int actl_seen = 0;

	for (;;) {
		if (!image_have(len, off, 8))
			return IMAGE_ERR(err, "truncated png chunk");
		clen = image_be32(b + off);
		if (clen > IMAGE_PNG_MAX)
			return IMAGE_ERR(err, "bad png chunk length");
		if (image_at(b, len, off + 4, "IDAT"))
			return 0;
		if (image_at(b, len, off + 4, "IEND"))
			return IMAGE_ERR(err, "png has no image data");
		if (!image_have(len, off + 8, (size_t)clen + 4))
			return IMAGE_ERR(err, "truncated png chunk");
		/*
		 * num_frames 0 is invalid APNG; viewers then show the still.
		 * Only the first acTL counts: the APNG decoder refuses a
		 * second, so a later one must not be what the limits see.
		 */
		if (image_at(b, len, off + 4, "acTL")) {
			if (!actl_seen++ && clen >= 8 &&
			    image_be32(b + off + 8) > 0) {
				out->frames = image_be32(b + off + 8);
				out->animated = 1;
			}
		} else if (image_at(b, len, off + 4, "tRNS"))
			out->has_alpha = 1;
		off += 12 + (size_t)clen;
	}
}

static int
image_png(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	unsigned int depth, ctype;

	out->format = MR_IMAGE_PNG;
	/* Signature, IHDR length and type, 13 bytes of IHDR, CRC. */
	if (!image_have(len, 0, 33))
		return IMAGE_ERR(err, "truncated png header");
	if (image_be32(b + 8) != 13 || !image_at(b, len, 12, "IHDR"))
		return IMAGE_ERR(err, "png does not start with an ihdr chunk");
	out->width = image_be32(b + 16);
	out->height = image_be32(b + 20);
	depth = b[24];
	ctype = b[25];
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "png width or height is zero");
	if (out->width > IMAGE_PNG_MAX || out->height > IMAGE_PNG_MAX)
		return IMAGE_ERR(err, "png width or height is too large");
	if ((out->components = image_png_channels(ctype, depth)) == 0)
		return IMAGE_ERR(err, "bad png colour type or bit depth");
	out->bit_depth = (int)depth;
	out->has_alpha = ctype == 4 || ctype == 6;
	return image_png_chunks(b, len, 33, out, err);
}

/* --- GIF (GIF89a specification) --- */

/*
 * Skips data sub-blocks up to and past the 0 terminator; may pass len.
 * *cut is set when the data ends before the terminator.
 */
static size_t
image_gif_skip_blocks(const unsigned char *b, size_t len, size_t off,
    int *cut)
{
	while (off < len) {
		unsigned int n = b[off];

		off += 1 + (size_t)n;
		if (n == 0)
			return off;
	}
	*cut = 1;
	return off;
}

static size_t
image_gif_color_table(unsigned int flags)
{
	return (flags & 0x80) ? (size_t)3 << ((flags & 7) + 1) : 0;
}

/*
 * One image descriptor at off (10 bytes known to be there), then its
 * colour table, LZW code size and data. Returns the offset after it, or
 * 0 for a frame that does not fit the 16-bit plane.
 */
static size_t
image_gif_frame(const unsigned char *b, size_t len, size_t off, int *cut)
{
	uint32_t left = image_le16(b + off + 1), top = image_le16(b + off + 3);
	uint32_t w = image_le16(b + off + 5), h = image_le16(b + off + 7);

	if (left + w > 65535 || top + h > 65535)
		return 0;
	off += 10 + image_gif_color_table(b[off + 9]);
	return image_gif_skip_blocks(b, len, off + 1, cut);
}

/*
 * Truncation and trailing junk end the walk, as they end the decoders'
 * (giflib, browsers): what was seen so far counts, but at least one
 * image descriptor is needed.
 */
static int
image_gif(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	size_t off;
	int cut = 0, frame_cut = 0;

	out->format = MR_IMAGE_GIF;
	out->frames = 0;
	if (!image_have(len, 0, 13))
		return IMAGE_ERR(err, "truncated gif header");
	out->width = image_le16(b + 6);
	out->height = image_le16(b + 8);
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "gif width or height is zero");
	off = 13 + image_gif_color_table(b[10]);
	while (off < len && b[off] != 0x3b) {
		if (b[off] == 0x21 && image_have(len, off, 2)) {
			/* Graphic control: size byte 4, then flags, bit 0 */
			if (b[off + 1] == 0xf9 && image_have(len, off, 4) &&
			    b[off + 2] == 4 && (b[off + 3] & 1))
				out->has_alpha = 1;
			off = image_gif_skip_blocks(b, len, off + 2, &cut);
		} else if (b[off] == 0x2c && image_have(len, off, 10)) {
			if ((off = image_gif_frame(b, len, off, &frame_cut)) == 0)
				return IMAGE_ERR(err, "gif frame is outside the "
				    "16-bit plane");
			if (out->frames < UINT32_MAX)
				out->frames++;
		} else
			break;
	}
	if (out->frames == 0)
		return IMAGE_ERR(err, "gif has no image");
	out->animated = out->frames > 1;
	out->truncated = frame_cut;
	return 0;
}

/* --- WebP (RIFF container, RFC 9649) --- */

/* Counts ANMF chunks from off to end; a chunk cut short ends the walk. */
static uint32_t
image_webp_count_frames(const unsigned char *b, size_t end, size_t off)
{
	uint32_t frames = 0;
	uint64_t next;

	while (image_have(end, off, 8)) {
		uint32_t sz = image_le32(b + off + 4);

		if (image_at(b, end, off, "ANMF") && frames < UINT32_MAX)
			frames++;
		/* Chunks are padded to an even size. */
		next = (uint64_t)off + 8 + sz + (sz & 1);
		if (next > end)
			break;
		off = (size_t)next;
	}
	return frames;
}

/* The first chunk's body is b[d..d+n), n already cut to the buffer. */
static int
image_webp_first(const unsigned char *b, size_t d, size_t n, size_t end,
    uint32_t csize, struct mr_image_info *out, struct mr_err *err)
{
	const unsigned char *p = b + d;
	uint32_t v;

	if (image_at(b, end, d - 8, "VP8 ")) {
		if (n < 10)
			return IMAGE_ERR(err, "truncated webp header");
		/* Bit 0 of the frame tag is 0 for a key frame (RFC 6386 9.1). */
		if ((p[0] & 1) || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
			return IMAGE_ERR(err, "bad webp lossy header");
		out->width = image_le16(p + 6) & 0x3fff;
		out->height = image_le16(p + 8) & 0x3fff;
	} else if (image_at(b, end, d - 8, "VP8L")) {
		if (n < 5)
			return IMAGE_ERR(err, "truncated webp header");
		v = image_le32(p + 1);
		if (p[0] != 0x2f || (v >> 29) != 0)
			return IMAGE_ERR(err, "bad webp lossless header");
		out->width = (v & 0x3fff) + 1;
		out->height = ((v >> 14) & 0x3fff) + 1;
		out->has_alpha = (v >> 28) & 1;
	} else if (image_at(b, end, d - 8, "VP8X")) {
		if (n < 10)
			return IMAGE_ERR(err, "truncated webp header");
		out->has_alpha = (p[0] & 0x10) != 0;
		out->animated = (p[0] & 0x02) != 0;
		out->width = image_le24(p + 4) + 1;
		out->height = image_le24(p + 7) + 1;
		if (out->animated && (out->frames = image_webp_count_frames(b,
		    end, d + csize + (csize & 1))) == 0)
			return IMAGE_ERR(err, "animated webp has no frames");
	} else
		return IMAGE_ERR(err, "unknown webp chunk");
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "webp width or height is zero");
	return 0;
}

static int
image_webp(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	uint32_t riff, csize;
	size_t end, d, n;

	out->format = MR_IMAGE_WEBP;
	riff = image_le32(b + 4);
	/* "WEBP" and one chunk header at least. */
	if (riff < 12)
		return IMAGE_ERR(err, "bad webp riff size");
	/* A RIFF size that claims more than we hold is bounded by the buffer. */
	end = riff > len - 8 ? len : 8 + (size_t)riff;
	if (!image_have(end, 12, 8))
		return IMAGE_ERR(err, "truncated webp header");
	csize = image_le32(b + 16);
	d = 20;
	n = csize < end - d ? csize : end - d;
	/* A VP8X canvas is followed by other chunks, so keep csize whole. */
	if ((uint64_t)d + csize > end && image_at(b, end, 12, "VP8X"))
		return IMAGE_ERR(err, "truncated webp header");
	return image_webp_first(b, d, n, end, csize, out, err);
}

/* --- BMP (BITMAPFILEHEADER, then BITMAPCOREHEADER or BITMAPINFOHEADER+) */

/* 32-bit BI_BITFIELDS (3) or BI_ALPHABITFIELDS (6) with an alpha mask. */
static int
image_bmp_alpha(const unsigned char *b, size_t len, uint32_t dib,
    uint32_t bpp, uint32_t comp)
{
	if (bpp != 32 || (comp != 3 && comp != 6))
		return 0;
	/* The alpha mask is in a V3+ header, or after a V1 header for 6. */
	if (dib < 56 && comp != 6)
		return 0;
	return image_have(len, 66, 4) && image_le32(b + 66) != 0;
}

static int
image_bmp(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	uint32_t dib, bpp, comp = 0;
	int64_t w, h;

	out->format = MR_IMAGE_BMP;
	if (!image_have(len, 0, 18))
		return IMAGE_ERR(err, "truncated bmp header");
	dib = image_le32(b + 14);
	if (dib == 12) {
		if (!image_have(len, 0, 26))
			return IMAGE_ERR(err, "truncated bmp header");
		w = image_le16(b + 18);
		h = image_le16(b + 20);
		bpp = image_le16(b + 24);
	} else if (dib >= 40) {
		if (!image_have(len, 0, 54))
			return IMAGE_ERR(err, "truncated bmp header");
		w = image_s32(image_le32(b + 18));
		h = image_s32(image_le32(b + 22));
		bpp = image_le16(b + 28);
		comp = image_le32(b + 30);
	} else
		return IMAGE_ERR(err, "unsupported bmp header size %u",
		    (unsigned int)dib);
	/* 0 means embedded JPEG/PNG, which would need a second probe. */
	if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 &&
	    bpp != 32)
		return IMAGE_ERR(err, "unsupported bmp bit depth %u",
		    (unsigned int)bpp);
	/* A negative height is a top-down bitmap; width has no such sense. */
	if (h < 0)
		h = -h;
	if (w <= 0 || h == 0)
		return IMAGE_ERR(err, "bmp width or height is not positive");
	out->width = (uint32_t)w;
	out->height = (uint32_t)h;
	out->has_alpha = image_bmp_alpha(b, len, dib, bpp, comp);
	return 0;
}

/* --- AVIF and HEIF (ISO/IEC 14496-12 boxes, 23008-12 items) --- */

struct image_box {
	const unsigned char *type;
	size_t body;		/* first byte after the header */
	size_t end;		/* one past the box */
};

/*
 * Reads the box at *pos in [*pos, end) and moves *pos past it. Returns 1,
 * 0 at the end of the range, or -1 when the header is cut or the size
 * lies: smaller than its header or larger than the range around it.
 */
static int
image_box_next(const unsigned char *b, size_t *pos, size_t end,
    struct image_box *box)
{
	size_t off = *pos, hdr = 8;
	uint64_t size;

	if (off >= end)
		return 0;
	if (!image_have(end, off, 8))
		return -1;
	size = image_be32(b + off);
	box->type = b + off + 4;
	if (size == 1) {
		if (!image_have(end, off, 16))
			return -1;
		size = image_be64(b + off + 8);
		hdr = 16;
	} else if (size == 0)
		size = end - off;	/* "extends to the end of the file" */
	if (size < hdr || size > end - off)
		return -1;
	box->body = off + hdr;
	box->end = off + (size_t)size;
	*pos = box->end;
	return 1;
}

/* The first child of [pos, end) of the given type: 1, 0 if none, -1. */
static int
image_box_find(const unsigned char *b, size_t pos, size_t end,
    const char *type, struct image_box *box)
{
	int r;

	while ((r = image_box_next(b, &pos, end, box)) == 1)
		if (memcmp(box->type, type, 4) == 0)
			return 1;
	return r;
}

/* Major and compatible brands of ftyp decide AVIF over HEIF over neither. */
static enum mr_image_format
image_ftyp_brand(const unsigned char *b, const struct image_box *ftyp)
{
	static const char *const heif[] = {
		"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm",
		"hevs", "mif1", "msf1"
	};
	enum mr_image_format f = MR_IMAGE_UNKNOWN;
	size_t off;

	for (off = ftyp->body; image_have(ftyp->end, off, 4);
	    off += off == ftyp->body ? 8 : 4) {
		const unsigned char *br = b + off;

		if (memcmp(br, "avif", 4) == 0 || memcmp(br, "avis", 4) == 0)
			return MR_IMAGE_AVIF;
		for (size_t i = 0; i < sizeof(heif) / sizeof(heif[0]); i++)
			if (memcmp(br, heif[i], 4) == 0)
				f = MR_IMAGE_HEIF;
	}
	return f;
}

/*
 * Every 'ispe' in ipco, keeping the largest area. The first one may
 * belong to a thumbnail or a grid tile (iPhone HEIC lists 512x512 tiles
 * before the grid), and a bomb check must not see the small one.
 */
static int
image_ipco_size(const unsigned char *b, const struct image_box *ipco,
    struct mr_image_info *out)
{
	struct image_box box;
	size_t pos = ipco->body;
	uint64_t best = 0;
	int r;

	while ((r = image_box_find(b, pos, ipco->end, "ispe", &box)) == 1) {
		uint32_t w, h;

		pos = box.end;
		/* FullBox: version and flags, then width and height. */
		if (!image_have(box.end, box.body, 12))
			return -1;
		w = image_be32(b + box.body + 4);
		h = image_be32(b + box.body + 8);
		if ((uint64_t)w * h >= best && w != 0 && h != 0) {
			best = (uint64_t)w * h;
			out->width = w;
			out->height = h;
		}
	}
	return r;
}

/*
 * The top-level boxes after ftyp must hold exactly one 'meta': libheif
 * 1.15 keeps the last 'meta' (and 'ftyp') it meets and libavif refuses a
 * second, so with two the probe could size one and the decoder read the
 * other. AVIF must not hold a 'moov' either: libavif decodes the tracks
 * instead of the items when the major brand is 'avis', or is neither
 * brand, and the probe does not size tracks. The walk stops at the end or
 * at a box that cannot be read, as libheif's does: nothing past it counts.
 */
static int
image_isobmff_top(const unsigned char *b, size_t pos, size_t len,
    enum mr_image_format f, struct image_box *meta, struct mr_err *err)
{
	struct image_box box;
	int metas = 0;

	while (image_box_next(b, &pos, len, &box) == 1) {
		if (memcmp(box.type, "ftyp", 4) == 0)
			return IMAGE_ERR(err, "heif has more than one ftyp box");
		if (memcmp(box.type, "moov", 4) == 0 && f == MR_IMAGE_AVIF)
			return IMAGE_ERR(err, "avif image sequences are not "
			    "supported");
		if (memcmp(box.type, "meta", 4) == 0) {
			if (metas++ > 0)
				return IMAGE_ERR(err, "heif has more than one meta "
				    "box");
			*meta = box;
		}
	}
	if (metas == 0)
		return IMAGE_ERR(err, "heif has no item properties");
	return 0;
}

/* ftyp first, then meta (a FullBox) -> iprp -> ipco -> ispe; no deeper. */
static int
image_isobmff(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	struct image_box box;
	size_t pos = 0;

	if (image_box_next(b, &pos, len, &box) != 1 ||
	    memcmp(box.type, "ftyp", 4) != 0 ||
	    !image_have(box.end, box.body, 8))
		return IMAGE_ERR(err, "not a supported image");
	if ((out->format = image_ftyp_brand(b, &box)) == MR_IMAGE_UNKNOWN)
		return IMAGE_ERR(err, "not a supported image");
	if (image_isobmff_top(b, pos, len, out->format, &box, err) < 0)
		return -1;
	/* Inside meta, both decoders take the first iprp and ipco. */
	if (!image_have(box.end, box.body, 4) ||
	    image_box_find(b, box.body + 4, box.end, "iprp", &box) != 1 ||
	    image_box_find(b, box.body, box.end, "ipco", &box) != 1)
		return IMAGE_ERR(err, "heif has no item properties");
	if (image_ipco_size(b, &box, out) < 0)
		return IMAGE_ERR(err, "malformed heif property box");
	if (out->width == 0 || out->height == 0)
		return IMAGE_ERR(err, "heif has no image size");
	return 0;
}

/* --- SVG: recognised so it can be refused, never parsed --- */

static int
image_xml_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset just past the first s at or after off, or 0 when not found. */
static size_t
image_find(const unsigned char *b, size_t len, size_t off, const char *s)
{
	size_t n = strlen(s);

	for (; image_have(len, off, n); off++)
		if (memcmp(b + off, s, n) == 0)
			return off + n;
	return 0;
}

/* "<svg" as a whole name: followed by space, '>', '/' or the cut. */
static int
image_svg_tag(const unsigned char *b, size_t len, size_t off)
{
	if (!image_at(b, len, off, "<svg"))
		return 0;
	return off + 4 == len || image_xml_space(b[off + 4]) ||
	    b[off + 4] == '>' || b[off + 4] == '/';
}

/*
 * Skips a BOM, space, and prolog items (<?...?>, <!--...-->, <!...>)
 * looking for the root "<svg". A document that opened with a prolog and
 * names "<svg" anywhere in the window is taken as SVG too: sniffing too
 * much as SVG only makes the caller more careful.
 */
static int
image_svg(const unsigned char *b, size_t len)
{
	size_t end = len < MR_IMAGE_SVG_WINDOW ? len : MR_IMAGE_SVG_WINDOW;
	size_t off = image_at(b, end, 0, "\xef\xbb\xbf") ? 3 : 0;
	int prolog = 0;

	for (;;) {
		while (off < end && image_xml_space(b[off]))
			off++;
		if (image_svg_tag(b, end, off))
			return 1;
		if (image_at(b, end, off, "<?"))
			off = image_find(b, end, off + 2, "?>");
		else if (image_at(b, end, off, "<!--"))
			off = image_find(b, end, off + 4, "-->");
		else if (image_at(b, end, off, "<!"))
			off = image_find(b, end, off + 2, ">");
		else
			break;
		prolog = 1;
		if (off == 0)
			return 0;
	}
	if (!prolog)
		return 0;
	for (; (off = image_find(b, end, off, "<svg")) != 0; )
		if (image_svg_tag(b, end, off - 4))
			return 1;
	return 0;
}

/* --- entry points --- */

static int
image_sniff(const unsigned char *b, size_t len, struct mr_image_info *out,
    struct mr_err *err)
{
	if (image_have(len, 0, 3) && b[0] == 0xff && b[1] == 0xd8 &&
	    b[2] == 0xff)
		return image_jpeg(b, len, out, err);
	if (image_have(len, 0, 8) && memcmp(b, image_png_sig, 8) == 0)
		return image_png(b, len, out, err);
	if (image_at(b, len, 0, "GIF87a") || image_at(b, len, 0, "GIF89a"))
		return image_gif(b, len, out, err);
	if (image_at(b, len, 0, "RIFF") && image_at(b, len, 8, "WEBP"))
		return image_webp(b, len, out, err);
	if (image_at(b, len, 0, "BM"))
		return image_bmp(b, len, out, err);
	if (image_at(b, len, 0, "II*\0") || image_at(b, len, 0, "MM\0*"))
		return image_tiff(b, len, out, err);
	if (image_at(b, len, 4, "ftyp"))
		return image_isobmff(b, len, out, err);
	if (image_svg(b, len)) {
		out->format = MR_IMAGE_SVG;
		return 0;
	}
	return IMAGE_ERR(err, "not a supported image");
}

int
mr_image_probe(const unsigned char *buf, size_t len,
    struct mr_image_info *out, struct mr_err *err)
{
	struct mr_image_info info;

	memset(&info, 0, sizeof(info));
	info.frames = 1;
	info.orientation = 1;
	if (buf == NULL)
		len = 0;
	/* Filled on the side so a failure never leaves half a result. */
	if (image_sniff(buf, len, &info, err) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	*out = info;
	return 0;
}

static const struct {
	const char *name;
	const char *mime;
} image_formats[] = {
	[MR_IMAGE_UNKNOWN] = { "unknown", "application/octet-stream" },
	[MR_IMAGE_JPEG] = { "jpeg", "image/jpeg" },
	[MR_IMAGE_PNG] = { "png", "image/png" },
	[MR_IMAGE_GIF] = { "gif", "image/gif" },
	[MR_IMAGE_WEBP] = { "webp", "image/webp" },
	[MR_IMAGE_BMP] = { "bmp", "image/bmp" },
	[MR_IMAGE_TIFF] = { "tiff", "image/tiff" },
	[MR_IMAGE_AVIF] = { "avif", "image/avif" },
	[MR_IMAGE_HEIF] = { "heif", "image/heif" },
	[MR_IMAGE_SVG] = { "svg", "image/svg+xml" },
};

#define IMAGE_NFORMATS (sizeof(image_formats) / sizeof(image_formats[0]))

const char *
mr_image_format_name(enum mr_image_format f)
{
	if ((size_t)f >= IMAGE_NFORMATS)
		f = MR_IMAGE_UNKNOWN;
	return image_formats[f].name;
}

const char *
mr_image_mime(enum mr_image_format f)
{
	if ((size_t)f >= IMAGE_NFORMATS)
		f = MR_IMAGE_UNKNOWN;
	return image_formats[f].mime;
}

/* ASCII only, so the locale cannot change what a config line means. */
static int
image_name_eq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (ca != cb)
			return 0;
	}
	return *a == *b;
}

enum mr_image_format
mr_image_format_from_name(const char *name)
{
	if (name == NULL)
		return MR_IMAGE_UNKNOWN;
	for (size_t i = 1; i < IMAGE_NFORMATS; i++)
		if (image_name_eq(name, image_formats[i].name))
			return (enum mr_image_format)i;
	return MR_IMAGE_UNKNOWN;
}
