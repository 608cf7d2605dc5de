/*
 * thumb: decode once, resample (common/resample.c), encode; in a sandboxed
 * child (see thumb.h).
 */
#include "thumb.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gd.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <seccomp.h>

#include "resample.h"
#include "thumb_anim.h"

/* --- sizes and plans (pure) --- */

void
mr_thumb_limits_from_config(const struct mr_config *cfg,
    struct mr_thumb_limits *lim)
{
	lim->max_pixels = cfg->max_image_pixels;
	lim->max_animation_pixels = cfg->max_animation_pixels;
	lim->formats = cfg->thumbnail_formats;
	lim->jpeg_quality = (int)cfg->thumbnail_jpeg_quality;
	lim->memory_bytes = cfg->thumbnail_memory_limit;
	lim->time_ms = cfg->thumbnail_time_limit;
}

void
mr_thumb_plan(uint32_t ow, uint32_t oh, const struct mr_thumb_spec *spec,
    struct mr_thumb_plan *out)
{
	uint64_t W = spec->width, H = spec->height;

	memset(out, 0, sizeof(*out));
	out->x1 = ow;
	out->y1 = oh;
	if (ow <= W && oh <= H) {
		out->use_original = 1;
		out->width = ow;
		out->height = oh;
		return;
	}
	if (spec->method == MR_THUMB_SCALE) {
		/* Fit inside the box, as Synapse's aspect() does. */
		if (W * oh < H * ow) {
			out->width = (uint32_t)W;
			out->height = (uint32_t)(W * oh / ow > 0 ? W * oh / ow : 1);
		} else {
			out->width = (uint32_t)(H * ow / oh > 0 ? H * ow / oh : 1);
			out->height = (uint32_t)H;
		}
		return;
	}
	/* Crop: cover the box, then cut the centre. An original narrower or
	 * shorter than the box keeps the box's aspect at its own scale. */
	if (ow >= W && oh >= H) {
		double s = fmax((double)W / ow, (double)H / oh);
		double bw = W / s, bh = H / s;

		out->width = (uint32_t)W;
		out->height = (uint32_t)H;
		out->x0 = (ow - bw) / 2;
		out->y0 = (oh - bh) / 2;
		out->x1 = out->x0 + bw;
		out->y1 = out->y0 + bh;
	} else {
		double bw = fmin(ow, (double)oh * W / H);
		double bh = fmin(oh, (double)ow * H / W);

		out->width = (uint32_t)fmax(1, floor(bw));
		out->height = (uint32_t)fmax(1, floor(bh));
		out->x0 = (ow - out->width) / 2.0;
		out->y0 = (oh - out->height) / 2.0;
		out->x1 = out->x0 + out->width;
		out->y1 = out->y0 + out->height;
	}
}

size_t
mr_thumb_pick(const struct mr_thumb_spec *specs, size_t n, uint32_t w,
    uint32_t h, enum mr_thumb_method m)
{
	size_t best = n;

	for (size_t i = 0; i < n; i++) {
		uint64_t area = (uint64_t)specs[i].width * specs[i].height;

		if (specs[i].method == m && specs[i].width >= w &&
		    specs[i].height >= h && (best == n || area <
		    (uint64_t)specs[best].width * specs[best].height))
			best = i;
	}
	return best;
}

size_t
mr_thumb_pick_fallback(const struct mr_thumb_spec *specs, size_t n,
    enum mr_thumb_method m)
{
	size_t largest = 0;

	for (size_t i = 1; i < n; i++) {
		int same = specs[i].method == m;
		int was_same = specs[largest].method == m;
		uint64_t area = (uint64_t)specs[i].width * specs[i].height;
		uint64_t best = (uint64_t)specs[largest].width *
		    specs[largest].height;

		if ((same && !was_same) || (same == was_same && area > best))
			largest = i;
	}
	return largest;
}

/* --- checks before decoding --- */

int
mr_thumb_check(const unsigned char *buf, size_t len,
    const struct mr_thumb_limits *lim, struct mr_image_info *info,
    struct mr_err *err)
{
	if (len == 0 || mr_image_probe(buf, len, info, err) < 0 ||
	    info->format == MR_IMAGE_SVG)
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "cannot generate a thumbnail for this content");
	/* A partial image would be thumbnailed as grey: refuse it, as
	 * Pillow (and so Synapse) does. */
	if (info->truncated)
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "cannot generate a thumbnail: the image is truncated");
	if (!(lim->formats & (1u << info->format)))
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "thumbnails of '%s' images are disabled",
		    mr_image_format_name(info->format));
	if ((int64_t)info->width * info->height > lim->max_pixels) {
		mr_err_set(err, 413, "M_TOO_LARGE",
		    "image of %ux%u pixels is over the limit of %lld",
		    info->width, info->height, (long long)lim->max_pixels);
		err->limit_name = "max_image_pixels";
		return -1;
	}
	if (info->animated && (int64_t)info->frames * info->width *
	    info->height > lim->max_animation_pixels)
		return mr_err_set(err, 413, "M_TOO_LARGE",
		    "animation of %u frames is over the limit", info->frames);
	return 0;
}

/* --- decoded pixels --- */

struct thumb_pixels {
	uint8_t *data;
	uint32_t width, height;
	int channels;			/* 3 or 4 */
};

static void
thumb_pixels_release(struct thumb_pixels *p)
{
	free(p->data);
	p->data = NULL;
}

struct thumb_jpeg_error {
	struct jpeg_error_mgr mgr;
	jmp_buf jump;
};

static void
thumb_jpeg_fail(j_common_ptr cinfo)
{
	longjmp(((struct thumb_jpeg_error *)cinfo->err)->jump, 1);
}

/*
 * Warnings stay quiet, except the end of data inside the scan: libjpeg
 * would pad the rest with grey, and a truncated file is refused instead.
 */
static void
thumb_jpeg_message(j_common_ptr cinfo, int level)
{
	if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
		longjmp(((struct thumb_jpeg_error *)cinfo->err)->jump, 1);
}

/* Adobe CMYK JPEGs store inverted ink values; others store plain ones. */
static void
thumb_cmyk_to_rgb(const uint8_t *in, uint8_t *out, uint32_t n, int inverted)
{
	for (uint32_t i = 0; i < n; i++, in += 4, out += 3) {
		unsigned c = in[0], m = in[1], y = in[2], k = in[3];

		if (!inverted) {
			c = 255 - c;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		out[0] = (uint8_t)((c * k + 127) / 255);
		out[1] = (uint8_t)((m * k + 127) / 255);
		out[2] = (uint8_t)((y * k + 127) / 255);
	}
}

/*
 * Decodes a JPEG with DCT scaling: the smallest M/8 whose result is still
 * at least min_scale of the original, so no pixel is decoded that the
 * resampler would only average away.
 */
static int
thumb_decode_jpeg(const unsigned char *buf, size_t len, double min_scale,
    struct thumb_pixels *out, struct mr_err *err)
{
	struct jpeg_decompress_struct cinfo;
	struct thumb_jpeg_error jerr;
	uint8_t *volatile row = NULL;
	volatile int cmyk = 0;

	out->data = NULL;
	cinfo.err = jpeg_std_error(&jerr.mgr);
	jerr.mgr.error_exit = thumb_jpeg_fail;
	jerr.mgr.emit_message = thumb_jpeg_message;
	if (setjmp(jerr.jump)) {
		jpeg_destroy_decompress(&cinfo);
		free(row);
		thumb_pixels_release(out);
		return mr_err_set(err, 400, "M_UNKNOWN", "cannot decode jpeg");
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, buf, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	cinfo.scale_denom = 8;
	cinfo.scale_num = 8;
	for (unsigned m = 1; m <= 8; m++) {
		if (m / 8.0 + 1e-9 >= min_scale) {
			cinfo.scale_num = m;
			break;
		}
	}
	cinfo.dct_method = JDCT_ISLOW;
	if (cinfo.jpeg_color_space == JCS_CMYK ||
	    cinfo.jpeg_color_space == JCS_YCCK) {
		cinfo.out_color_space = JCS_CMYK;
		cmyk = 1;
	} else {
		cinfo.out_color_space = JCS_RGB;
	}
	jpeg_start_decompress(&cinfo);
	out->width = cinfo.output_width;
	out->height = cinfo.output_height;
	out->channels = 3;
	out->data = malloc((size_t)out->width * out->height * 3);
	if (cmyk)
		row = malloc((size_t)out->width * 4);
	if (out->data == NULL || (cmyk && row == NULL))
		longjmp(jerr.jump, 1);
	while (cinfo.output_scanline < cinfo.output_height) {
		uint8_t *dst = out->data + (size_t)cinfo.output_scanline *
		    out->width * 3;
		JSAMPROW rows[1] = { cmyk ? row : dst };

		jpeg_read_scanlines(&cinfo, rows, 1);
		if (cmyk)
			thumb_cmyk_to_rgb(row, dst, out->width,
			    cinfo.saw_Adobe_marker);
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(row);
	return 0;
}

/*
 * libgd is loaded on first use, not linked: it drags in some sixty codec
 * libraries (AV1, HEVC, TIFF, X11...) whose start-up costs every process
 * about 7 ms, and most thumbnails are JPEGs that never need it. It is
 * loaded in the parent, before the sandbox forbids opening files, and the
 * decoding children inherit it.
 */
static struct {
	int tried;
	void *handle;
	gdImagePtr (*from[MR_IMAGE_SVG + 1])(int, void *);
	int (*palette_to_truecolor)(gdImagePtr);
	void (*destroy)(gdImagePtr);
} thumb_gd;

static const char *const thumb_gd_loaders[MR_IMAGE_SVG + 1] = {
	[MR_IMAGE_PNG] = "gdImageCreateFromPngPtr",
	[MR_IMAGE_GIF] = "gdImageCreateFromGifPtr",
	[MR_IMAGE_WEBP] = "gdImageCreateFromWebpPtr",
	[MR_IMAGE_BMP] = "gdImageCreateFromBmpPtr",
	[MR_IMAGE_TIFF] = "gdImageCreateFromTiffPtr",
	[MR_IMAGE_AVIF] = "gdImageCreateFromAvifPtr",
	[MR_IMAGE_HEIF] = "gdImageCreateFromHeifPtr",
};

static int
thumb_gd_load(struct mr_err *err)
{
	if (!thumb_gd.tried) {
		thumb_gd.tried = 1;
		thumb_gd.handle = dlopen("libgd.so.3", RTLD_NOW | RTLD_LOCAL);
		if (thumb_gd.handle != NULL) {
			for (int f = 0; f <= MR_IMAGE_SVG; f++)
				if (thumb_gd_loaders[f] != NULL)
					*(void **)&thumb_gd.from[f] = dlsym(
					    thumb_gd.handle, thumb_gd_loaders[f]);
			*(void **)&thumb_gd.palette_to_truecolor = dlsym(
			    thumb_gd.handle, "gdImagePaletteToTrueColor");
			*(void **)&thumb_gd.destroy = dlsym(thumb_gd.handle,
			    "gdImageDestroy");
		}
	}
	if (thumb_gd.destroy == NULL || thumb_gd.palette_to_truecolor == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot load libgd");
	return 0;
}

static gdImagePtr
thumb_gd_decode(enum mr_image_format f, const unsigned char *buf, size_t len)
{
	if (f > MR_IMAGE_SVG || thumb_gd.from[f] == NULL)
		return NULL;
	return thumb_gd.from[f]((int)len, (void *)buf);
}

/* Decodes with libgd into RGBA (RGB when every pixel is opaque). */
static int
thumb_decode_gd(enum mr_image_format f, const unsigned char *buf, size_t len,
    struct thumb_pixels *out, struct mr_err *err)
{
	gdImagePtr im;
	int alpha = 0;
	uint8_t *p;

	if (len > INT32_MAX || (im = thumb_gd_decode(f, buf, len)) == NULL)
		return mr_err_set(err, 400, "M_UNKNOWN", "cannot decode %s",
		    mr_image_format_name(f));
	if (!gdImageTrueColor(im) && !thumb_gd.palette_to_truecolor(im)) {
		thumb_gd.destroy(im);
		return mr_err_set(err, 400, "M_UNKNOWN", "cannot decode %s",
		    mr_image_format_name(f));
	}
	out->width = (uint32_t)gdImageSX(im);
	out->height = (uint32_t)gdImageSY(im);
	for (uint32_t y = 0; y < out->height && !alpha; y++)
		for (uint32_t x = 0; x < out->width; x++)
			if (gdTrueColorGetAlpha(im->tpixels[y][x]) != 0) {
				alpha = 1;
				break;
			}
	out->channels = alpha ? 4 : 3;
	p = out->data = malloc((size_t)out->width * out->height *
	    (size_t)out->channels);
	if (p == NULL) {
		thumb_gd.destroy(im);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	for (uint32_t y = 0; y < out->height; y++) {
		for (uint32_t x = 0; x < out->width; x++) {
			int c = im->tpixels[y][x];

			*p++ = (uint8_t)gdTrueColorGetRed(c);
			*p++ = (uint8_t)gdTrueColorGetGreen(c);
			*p++ = (uint8_t)gdTrueColorGetBlue(c);
			/* gd keeps 7-bit alpha, 127 = transparent. */
			if (alpha)
				*p++ = (uint8_t)((127 - gdTrueColorGetAlpha(c)) *
				    255 / 127);
		}
	}
	thumb_gd.destroy(im);
	return 0;
}

/*
 * Applies EXIF orientation 2..8 so the pixels stand as the camera meant;
 * 5..8 swap width and height.
 */
static int
thumb_orient(struct thumb_pixels *px, int orientation, struct mr_err *err)
{
	uint32_t w = px->width, h = px->height, nw, nh;
	size_t ch = (size_t)px->channels;
	uint8_t *dst;

	if (orientation < 2 || orientation > 8)
		return 0;
	nw = orientation >= 5 ? h : w;
	nh = orientation >= 5 ? w : h;
	if ((dst = malloc((size_t)w * h * ch)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	for (uint32_t y = 0; y < nh; y++) {
		for (uint32_t x = 0; x < nw; x++) {
			uint32_t sx, sy;

			switch (orientation) {
			case 2: sx = w - 1 - x; sy = y; break;
			case 3: sx = w - 1 - x; sy = h - 1 - y; break;
			case 4: sx = x; sy = h - 1 - y; break;
			case 5: sx = y; sy = x; break;
			case 6: sx = y; sy = h - 1 - x; break;
			case 7: sx = w - 1 - y; sy = h - 1 - x; break;
			default: sx = w - 1 - y; sy = x; break;
			}
			memcpy(dst + ((size_t)y * nw + x) * ch,
			    px->data + ((size_t)sy * w + sx) * ch, ch);
		}
	}
	free(px->data);
	px->data = dst;
	px->width = nw;
	px->height = nh;
	return 0;
}

/* --- encoders --- */

static int
thumb_encode_jpeg(const struct thumb_pixels *px, int quality,
    struct mr_thumb_result *r, struct mr_err *err)
{
	struct jpeg_compress_struct cinfo;
	struct thumb_jpeg_error jerr;
	unsigned char *volatile mem = NULL;
	unsigned long size = 0;

	cinfo.err = jpeg_std_error(&jerr.mgr);
	jerr.mgr.error_exit = thumb_jpeg_fail;
	if (setjmp(jerr.jump)) {
		jpeg_destroy_compress(&cinfo);
		free(mem);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot encode jpeg");
	}
	jpeg_create_compress(&cinfo);
	jpeg_mem_dest(&cinfo, (unsigned char **)&mem, &size);
	cinfo.image_width = px->width;
	cinfo.image_height = px->height;
	cinfo.input_components = 3;
	cinfo.in_color_space = JCS_RGB;
	jpeg_set_defaults(&cinfo);
	jpeg_set_quality(&cinfo, quality, TRUE);
	jpeg_start_compress(&cinfo, TRUE);
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW row = px->data + (size_t)cinfo.next_scanline *
		    px->width * 3;

		jpeg_write_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	r->data = mem;
	r->len = size;
	r->content_type = "image/jpeg";
	return 0;
}

static int
thumb_encode_png(const struct thumb_pixels *px, struct mr_thumb_result *r,
    struct mr_err *err)
{
	png_image img;
	png_alloc_size_t size = 0;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = px->width;
	img.height = px->height;
	img.format = px->channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
	if (!png_image_write_to_memory(&img, NULL, &size, 0, px->data, 0, NULL) ||
	    (r->data = malloc(size)) == NULL ||
	    !png_image_write_to_memory(&img, r->data, &size, 0, px->data, 0,
	    NULL)) {
		free(r->data);
		r->data = NULL;
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot encode png");
	}
	r->len = size;
	r->content_type = "image/png";
	return 0;
}

/* 1 when some pixel is not fully opaque. */
static int
thumb_has_alpha(const struct thumb_pixels *px)
{
	size_t n = (size_t)px->width * px->height;

	if (px->channels != 4)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (px->data[i * 4 + 3] != 255)
			return 1;
	return 0;
}

static void
thumb_drop_alpha(struct thumb_pixels *px)
{
	size_t n = (size_t)px->width * px->height;

	for (size_t i = 0; i < n; i++)
		memmove(px->data + i * 3, px->data + i * 4, 3);
	px->channels = 3;
}

/* Resamples src's plan box into a new image of the plan's size. */
static int
thumb_resample(const struct thumb_pixels *src, uint32_t ow, uint32_t oh,
    const struct mr_thumb_plan *plan, struct thumb_pixels *dst,
    struct mr_err *err)
{
	/* The decoded image may be DCT-scaled: map the box onto it. */
	double sx = (double)src->width / ow, sy = (double)src->height / oh;
	struct mr_resample_image in = { src->data, src->width, src->height,
	    (size_t)src->width * (size_t)src->channels, src->channels };
	struct mr_resample_image out;

	dst->width = plan->width;
	dst->height = plan->height;
	dst->channels = src->channels;
	dst->data = malloc((size_t)dst->width * dst->height *
	    (size_t)dst->channels);
	if (dst->data == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	out = (struct mr_resample_image){ dst->data, dst->width, dst->height,
	    (size_t)dst->width * (size_t)dst->channels, dst->channels };
	if (mr_resample(&in, plan->x0 * sx, plan->y0 * sy,
	    fmin(plan->x1 * sx, src->width), fmin(plan->y1 * sy, src->height),
	    &out, err) < 0) {
		thumb_pixels_release(dst);
		return -1;
	}
	return 0;
}

static int
thumb_encode_still(struct thumb_pixels *px, int quality,
    struct mr_thumb_result *r, struct mr_err *err)
{
	r->width = px->width;
	r->height = px->height;
	if (thumb_has_alpha(px))
		return thumb_encode_png(px, r, err);
	if (px->channels == 4)
		thumb_drop_alpha(px);
	return thumb_encode_jpeg(px, quality, r, err);
}

/* The formats a client may be sent as a thumbnail as they are. */
static int
thumb_servable_as_is(enum mr_image_format f)
{
	return f == MR_IMAGE_JPEG || f == MR_IMAGE_PNG || f == MR_IMAGE_GIF ||
	    f == MR_IMAGE_WEBP;
}

/* Oriented size of the original: EXIF 5..8 swap the sides. */
static void
thumb_oriented_size(const struct mr_image_info *info, uint32_t *w,
    uint32_t *h)
{
	int swap = info->format == MR_IMAGE_JPEG && info->orientation >= 5;

	*w = swap ? info->height : info->width;
	*h = swap ? info->width : info->height;
}

/*
 * The decode scale every spec can live with: the decoded box still covers
 * the output (at most 1). libjpeg's M/8 scaling is a proper reduction (the
 * IDCT of the low frequencies), so Lanczos needs no more pixels than the
 * output has: bench/thumbnail measures the same PSNR against Pillow's
 * full-resolution LANCZOS as with twice the output (within 0.1 dB, over
 * 35 dB even when the decode lands exactly on the output size), and the
 * entropy decoder then pays for no IDCT it does not need.
 */
static double
thumb_min_scale(const struct mr_thumb_plan *plans, size_t n)
{
	double need = 0;

	for (size_t i = 0; i < n; i++) {
		double bw = plans[i].x1 - plans[i].x0;
		double bh = plans[i].y1 - plans[i].y0;

		if (bw > 0 && bh > 0)
			need = fmax(need, fmax(plans[i].width / bw,
			    plans[i].height / bh));
	}
	return fmin(1.0, need);
}

struct thumb_first_frame {
	struct thumb_pixels *px;
	int done;
};

static int
thumb_keep_first_frame(void *arg, const uint8_t *rgba, uint32_t w,
    uint32_t h, int duration_ms, struct mr_err *err)
{
	struct thumb_first_frame *ff = arg;
	size_t n = (size_t)w * h * 4;

	(void)duration_ms;
	if ((ff->px->data = malloc(n)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	memcpy(ff->px->data, rgba, n);
	ff->px->width = w;
	ff->px->height = h;
	ff->px->channels = 4;
	ff->done = 1;
	return -1;		/* one frame is all a still needs */
}

/* libgd cannot read animated WebP; its first frame makes the still. */
static int
thumb_decode_webp_first_frame(const unsigned char *buf, size_t len,
    const struct mr_thumb_limits *lim, struct thumb_pixels *px,
    struct mr_err *err)
{
	struct thumb_first_frame ff = { px, 0 };
	struct mr_thumb_anim_limits alim = {
		.max_frames = UINT32_MAX,
		.max_total_pixels = (uint64_t)lim->max_animation_pixels,
		.max_canvas_pixels = (uint32_t)(lim->max_pixels > UINT32_MAX ?
		    UINT32_MAX : lim->max_pixels),
	};

	px->data = NULL;
	if (mr_thumb_anim_decode(MR_THUMB_ANIM_WEBP, buf, len, &alim, NULL,
	    thumb_keep_first_frame, &ff, err) < 0 && !ff.done)
		return -1;
	mr_err_clear(err);
	return 0;
}

static int
thumb_make_stills(const unsigned char *buf, size_t len,
    const struct mr_image_info *info, const struct mr_thumb_limits *lim,
    const struct mr_thumb_plan *plans, size_t n,
    struct mr_thumb_result *results, struct mr_err *err)
{
	struct thumb_pixels px = { 0 };
	int quality = lim->jpeg_quality;
	uint32_t ow, oh;
	int rc;

	thumb_oriented_size(info, &ow, &oh);
	if (info->format == MR_IMAGE_JPEG)
		rc = thumb_decode_jpeg(buf, len, thumb_min_scale(plans, n), &px,
		    err);
	else if (info->format == MR_IMAGE_WEBP && info->animated)
		rc = thumb_decode_webp_first_frame(buf, len, lim, &px, err);
	else
		rc = thumb_decode_gd(info->format, buf, len, &px, err);
	if (rc < 0)
		return -1;
	if (info->format == MR_IMAGE_JPEG &&
	    thumb_orient(&px, info->orientation, err) < 0) {
		thumb_pixels_release(&px);
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct thumb_pixels t;

		if (results[i].use_original)
			continue;
		if ((rc = thumb_resample(&px, ow, oh, &plans[i], &t, err)) < 0)
			break;
		rc = thumb_encode_still(&t, quality, &results[i], err);
		thumb_pixels_release(&t);
	}
	thumb_pixels_release(&px);
	return rc;
}

/* --- animations --- */

struct thumb_anim_job {
	const struct mr_thumb_plan *plans;
	struct mr_thumb_result *results;
	struct mr_thumb_anim_encoder *enc[MR_THUMB_MAX_SPECS];
	size_t n;
	int quality, loop_count;
};

static int
thumb_anim_frame(void *arg, const uint8_t *rgba, uint32_t w, uint32_t h,
    int duration_ms, struct mr_err *err)
{
	struct thumb_anim_job *job = arg;
	struct thumb_pixels canvas = { (uint8_t *)rgba, w, h, 4 };

	for (size_t i = 0; i < job->n; i++) {
		struct thumb_pixels t;
		int rc;

		if (job->results[i].use_original)
			continue;
		if (job->enc[i] == NULL && mr_thumb_anim_encoder_new(&job->enc[i],
		    job->plans[i].width, job->plans[i].height, job->loop_count,
		    job->quality, err) < 0)
			return -1;
		if (thumb_resample(&canvas, w, h, &job->plans[i], &t, err) < 0)
			return -1;
		rc = mr_thumb_anim_encoder_add(job->enc[i], t.data, duration_ms,
		    err);
		thumb_pixels_release(&t);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
thumb_make_animations(const unsigned char *buf, size_t len,
    const struct mr_image_info *info, const struct mr_thumb_limits *lim,
    const struct mr_thumb_plan *plans, size_t n,
    struct mr_thumb_result *results, struct mr_err *err)
{
	struct thumb_anim_job job = { .plans = plans, .results = results,
	    .n = n, .quality = lim->jpeg_quality };
	struct mr_thumb_anim_limits alim = {
		.max_frames = 100000,
		.max_total_pixels = (uint64_t)lim->max_animation_pixels,
		.max_canvas_pixels = (uint32_t)(lim->max_pixels > UINT32_MAX ?
		    UINT32_MAX : lim->max_pixels),
	};
	enum mr_thumb_anim_kind kind = info->format == MR_IMAGE_GIF ?
	    MR_THUMB_ANIM_GIF : info->format == MR_IMAGE_WEBP ?
	    MR_THUMB_ANIM_WEBP : MR_THUMB_ANIM_APNG;
	int rc = 0;

	job.loop_count = 0;
	if (mr_thumb_anim_decode(kind, buf, len, &alim, &job.loop_count,
	    thumb_anim_frame, &job, err) < 0)
		rc = -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && job.enc[i] != NULL) {
			rc = mr_thumb_anim_encoder_finish(job.enc[i],
			    &results[i].data, &results[i].len, err);
			results[i].content_type = "image/webp";
			results[i].width = plans[i].width;
			results[i].height = plans[i].height;
			results[i].animated = 1;
		}
		mr_thumb_anim_encoder_free(job.enc[i]);
	}
	return rc;
}

/* --- the sandboxed child and its wire format --- */

struct thumb_wire {
	int32_t status;			/* 0 or the HTTP status of the error */
	uint32_t width, height, len;
	uint8_t kind;			/* 0 jpeg, 1 png, 2 webp */
	uint8_t animated, use_original, pad;
	char errcode[32];
	char msg[160];
};

static const char *const thumb_kinds[] = {
	"image/jpeg", "image/png", "image/webp"
};

static int
thumb_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * The child's only descriptors: 0..2 on /dev/null and the result pipe at
 * THUMB_RESULT_FD. Whatever else the parent holds (the FastCGI listening
 * socket and live connection, the SQLite database and its -wal and -shm,
 * curl's sockets) is closed before any hostile byte is looked at.
 */
#define THUMB_RESULT_FD 3

static int
thumb_child_fds(int fd)
{
	struct rlimit nofile;
	int keep, null;

	/* Above 0..2 first, so that moving those cannot close it. */
	if ((keep = fcntl(fd, F_DUPFD, THUMB_RESULT_FD)) < 0 ||
	    (null = open("/dev/null", O_RDWR)) < 0)
		return -1;
	/* A decoder's warnings go nowhere: stderr may be a regular file
	 * (mediarepo-run's log), where RLIMIT_FSIZE 0 would kill the child
	 * with SIGXFSZ on the first warning. */
	for (int i = 0; i <= 2; i++)
		if (null != i && dup2(null, i) < 0)
			return -1;
	if (keep != THUMB_RESULT_FD && dup2(keep, THUMB_RESULT_FD) < 0)
		return -1;
	if (close_range(THUMB_RESULT_FD + 1, ~0U, 0) == 0)
		return 0;
	/* Kernels before 5.9 have no close_range: close them one by one, up
	 * to the limit or to the kernel's default ceiling (fs.nr_open). */
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return -1;
	for (rlim_t i = THUMB_RESULT_FD + 1; i < nofile.rlim_cur &&
	    i < (rlim_t)1 << 20; i++)
		close((int)i);
	return 0;
}

/*
 * What the decoders need, and not more. An unlisted call fails with EPERM
 * rather than killing, so a library that probes (for the CPU count, say)
 * degrades instead of dying; calls that only an attack would make kill.
 *
 * - write: the result pipe only. The standard descriptors are /dev/null
 *   already; a decoder's warnings then fail quietly.
 * - mmap, mprotect: never PROT_EXEC. Every library is mapped before the
 *   fork (libgd is dlopen'ed in the parent), so no new code is needed.
 * - clone: threads only (CLONE_THREAD), because libheif runs libde265 on
 *   a worker thread (HEIC fails to decode without it); a thread shares
 *   this process's filter, limits and descriptors. Anything else, a
 *   fork, kills. clone3 passes its flags in memory, where seccomp cannot
 *   look, so it fails with ENOSYS and glibc falls back to clone.
 *   (Arguments are checked as x86_64 and arm64 order them; s390 swaps
 *   clone's first two.)
 */
static int
thumb_seccomp(void)
{
	static const int allowed[] = {
		SCMP_SYS(read), SCMP_SYS(munmap), SCMP_SYS(mremap),
		SCMP_SYS(brk), SCMP_SYS(madvise), SCMP_SYS(exit),
		SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn), SCMP_SYS(futex),
		SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
		SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
		SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(getrandom), SCMP_SYS(sched_getaffinity),
		SCMP_SYS(close),
		/* Harmless, and AddressSanitizer (make asan-test) aborts a
		 * thread's exit without it. */
		SCMP_SYS(sigaltstack),
	};
	static const int killed[] = {
		SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(socket),
		SCMP_SYS(connect), SCMP_SYS(ptrace), SCMP_SYS(fork),
		SCMP_SYS(vfork), SCMP_SYS(kill),
	};
	scmp_filter_ctx f;
	int rc = 0;

	if ((f = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0);
	for (size_t i = 0; i < sizeof(killed) / sizeof(killed[0]); i++)
		rc |= seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, killed[i], 0);
	rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
	    SCMP_A0(SCMP_CMP_EQ, THUMB_RESULT_FD));
	rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	rc |= seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc != 0 || seccomp_load(f) < 0)
		rc = -1;
	seccomp_release(f);
	return rc;
}

/*
 * Least privilege for hostile bytes, in the child before it decodes:
 * descriptors, then rlimits, then the seccomp filter. Returns the result
 * descriptor, or exits: a child that cannot be locked down must not run.
 */
static int
thumb_sandbox(int fd, const struct mr_thumb_limits *lim)
{
	struct rlimit mem = { (rlim_t)lim->memory_bytes,
	    (rlim_t)lim->memory_bytes };
	rlim_t secs = (rlim_t)((lim->time_ms + 999) / 1000);
	struct rlimit cpu = { secs, secs + 1 };
	struct rlimit none = { 0, 0 };
	struct rlimit nofile = { THUMB_RESULT_FD + 1, THUMB_RESULT_FD + 1 };

	/* The child lives for one request: big buffers (the decoded image,
	 * the resampler's rows) come from the heap and are reused from one
	 * size to the next, not mapped fresh and faulted in page by page. */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	if (thumb_child_fds(fd) < 0 ||
	    setrlimit(RLIMIT_AS, &mem) < 0 || setrlimit(RLIMIT_CPU, &cpu) < 0 ||
	    setrlimit(RLIMIT_FSIZE, &none) < 0 ||
	    setrlimit(RLIMIT_CORE, &none) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || thumb_seccomp() < 0)
		_exit(111);
	return THUMB_RESULT_FD;
}

/*
 * Forks a sandboxed child. The parent gets the child's pid and *fd, the
 * read end of the result pipe; the child gets 0 and *fd, the write end,
 * with the sandbox in place.
 */
static pid_t
thumb_fork(const struct mr_thumb_limits *lim, int *fd, struct mr_err *err)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot make a pipe");
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot fork");
	}
	if (pid == 0) {
		*fd = thumb_sandbox(fds[1], lim);
		return 0;
	}
	close(fds[1]);
	*fd = fds[0];
	return pid;
}

/* Kills and reaps the child: it never outlives its request. */
static void
thumb_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void
thumb_child(int fd, const unsigned char *buf, size_t len,
    const struct mr_image_info *info, const struct mr_thumb_plan *plans,
    size_t n, int animate, const struct mr_thumb_limits *lim,
    struct mr_thumb_result *results)
{
	struct mr_err err;
	int rc;

	mr_err_clear(&err);
	if (animate)
		rc = thumb_make_animations(buf, len, info, lim, plans, n, results,
		    &err);
	else
		rc = thumb_make_stills(buf, len, info, lim, plans, n, results,
		    &err);
	for (size_t i = 0; i < n; i++) {
		struct thumb_wire w;

		memset(&w, 0, sizeof(w));
		if (rc < 0) {
			w.status = err.status > 0 ? err.status : 400;
			snprintf(w.errcode, sizeof(w.errcode), "%s",
			    err.errcode ? err.errcode : "M_UNKNOWN");
			snprintf(w.msg, sizeof(w.msg), "%s", err.msg);
		} else {
			w.width = results[i].width;
			w.height = results[i].height;
			w.len = (uint32_t)results[i].len;
			w.animated = (uint8_t)results[i].animated;
			w.use_original = (uint8_t)results[i].use_original;
			for (uint8_t k = 0; k < 3; k++)
				if (results[i].content_type != NULL &&
				    strcmp(results[i].content_type,
				    thumb_kinds[k]) == 0)
					w.kind = k;
		}
		if (thumb_write_all(fd, &w, sizeof(w)) < 0 ||
		    (w.len > 0 && thumb_write_all(fd, results[i].data,
		    w.len) < 0))
			_exit(1);
		if (rc < 0)
			break;
	}
	_exit(0);
}

/* Reads exactly n bytes before the deadline; -1 on EOF, error or time. */
static int
thumb_read_all(int fd, void *buf, size_t n, int64_t deadline)
{
	char *p = buf;

	while (n > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - mr_mono_ms();
		ssize_t k;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Collects the child's results; returns 0 or -1 with err. */
static int
thumb_collect(int fd, size_t n, int64_t deadline,
    struct mr_thumb_result *results, struct mr_err *err)
{
	for (size_t i = 0; i < n; i++) {
		struct thumb_wire w;

		if (thumb_read_all(fd, &w, sizeof(w), deadline) < 0)
			return mr_err_set(err, 400, "M_UNKNOWN",
			    "cannot generate a thumbnail: the decoder failed");
		if (w.status != 0) {
			w.errcode[sizeof(w.errcode) - 1] = '\0';
			w.msg[sizeof(w.msg) - 1] = '\0';
			/* errcode must outlive this frame: map to constants. */
			return mr_err_set(err, w.status,
			    strcmp(w.errcode, "M_TOO_LARGE") == 0 ?
			    "M_TOO_LARGE" : "M_UNKNOWN", "%s", w.msg);
		}
		results[i].width = w.width;
		results[i].height = w.height;
		results[i].animated = w.animated;
		results[i].use_original = w.use_original;
		results[i].content_type = thumb_kinds[w.kind < 3 ? w.kind : 0];
		if (w.len == 0)
			continue;
		if (w.len > 64u << 20 || (results[i].data = malloc(w.len)) == NULL)
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "thumbnail too large");
		results[i].len = w.len;
		if (thumb_read_all(fd, results[i].data, w.len, deadline) < 0)
			return mr_err_set(err, 400, "M_UNKNOWN",
			    "cannot generate a thumbnail: the decoder failed");
	}
	return 0;
}

int
mr_thumb_generate(const unsigned char *buf, size_t len,
    const struct mr_thumb_spec *specs, size_t n, int animate,
    const struct mr_thumb_limits *lim, struct mr_thumb_result *results,
    struct mr_err *err)
{
	struct mr_thumb_plan plans[MR_THUMB_MAX_SPECS];
	struct mr_image_info info;
	uint32_t ow, oh;
	int fd = -1, rc;
	size_t i_all;
	pid_t pid;

	memset(results, 0, n * sizeof(*results));
	if (n == 0 || n > MR_THUMB_MAX_SPECS)
		return mr_err_set(err, 500, "M_UNKNOWN", "bad thumbnail request");
	if (mr_thumb_check(buf, len, lim, &info, err) < 0)
		return -1;
	animate = animate && info.animated && (info.format == MR_IMAGE_GIF ||
	    info.format == MR_IMAGE_WEBP || info.format == MR_IMAGE_PNG);
	thumb_oriented_size(&info, &ow, &oh);
	for (size_t i = 0; i < n; i++) {
		mr_thumb_plan(ow, oh, &specs[i], &plans[i]);
		/* The original goes out as it is only when a client may be
		 * sent that format, and only animated when that was asked. */
		results[i].use_original = plans[i].use_original &&
		    thumb_servable_as_is(info.format) &&
		    (animate || !info.animated) &&
		    !(info.format == MR_IMAGE_JPEG && info.orientation > 1);
		if (results[i].use_original) {
			results[i].width = ow;
			results[i].height = oh;
			results[i].animated = info.animated;
			results[i].content_type = mr_image_mime(info.format);
		}
	}
	for (i_all = 0; i_all < n && results[i_all].use_original; i_all++)
		;
	if (i_all == n)
		return 0;	/* nothing to decode */
	if (!animate && info.format != MR_IMAGE_JPEG &&
	    !(info.format == MR_IMAGE_WEBP && info.animated) &&
	    thumb_gd_load(err) < 0)
		return -1;
	if ((pid = thumb_fork(lim, &fd, err)) < 0)
		return -1;
	if (pid == 0)
		thumb_child(fd, buf, len, &info, plans, n, animate, lim,
		    results);
	rc = thumb_collect(fd, n, mr_mono_ms() + lim->time_ms + 1000,
	    results, err);
	close(fd);
	thumb_reap(pid);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			mr_thumb_result_release(&results[i]);
		return -1;
	}
	return 0;
}

void
mr_thumb_result_release(struct mr_thumb_result *r)
{
	free(r->data);
	r->data = NULL;
	r->len = 0;
}
