/*
 * resample: Pillow-compatible Lanczos-3 resizing (see resample.h). Two
 * separable passes in 22-bit fixed point; both inner loops run over a fixed
 * number of contiguous lanes so that the compiler vectorises them at -O2.
 */
#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's PRECISION_BITS: 8 bits of pixel and 2 of headroom in an int32. */
#define RS_PRECISION	(32 - 8 - 2)
#define RS_HALF		(1 << (RS_PRECISION - 1))
#define RS_SUPPORT	3.0
#define RS_PI		3.14159265358979323846
/*
 * The horizontal pass filters RS_ROWS source rows at once out of a strip
 * stored column by column, 4 bytes a pixel even for RGB, so its inner loop
 * is RS_STRIP contiguous lanes: a whole number of vectors, which 24 lanes
 * of RGB were not (measured 3x slower).
 */
#define RS_ROWS		8
#define RS_STRIP	(RS_ROWS * 4)
/* Lanes per step of the vertical pass; intermediate rows are padded to it. */
#define RS_LANES	32

/*
 * GCC builds an AVX2 copy of the hot loops next to the baseline one and
 * picks at load time; the loops are plain C either way. Sanitizer builds
 * and other compilers get the baseline only.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
#define RS_HOT __attribute__((target_clones("avx2", "default")))
#else
#define RS_HOT
#endif

/* Per axis: for each output pixel, its first input, count and weights. */
struct resample_axis {
	int ksize;
	int *bounds;		/* 2 * out: first input, number of inputs */
	int32_t *k;		/* out * ksize weights, zero past the count */
};

static double
resample_sinc(double x)
{
	if (x == 0.0)
		return 1.0;
	x = x * RS_PI;
	return sin(x) / x;
}

static double
resample_lanczos(double x)
{
	if (-RS_SUPPORT <= x && x < RS_SUPPORT)
		return resample_sinc(x) * resample_sinc(x / 3);
	return 0.0;
}

static int32_t
resample_fixed(double w)
{
	if (w < 0)
		return (int32_t)(-0.5 + w * (1 << RS_PRECISION));
	return (int32_t)(0.5 + w * (1 << RS_PRECISION));
}

static void
resample_axis_release(struct resample_axis *ax)
{
	free(ax->bounds);
	free(ax->k);
	ax->bounds = NULL;
	ax->k = NULL;
}

/* One output pixel's window: Pillow's precompute_coeffs, step for step. */
static void
resample_axis_window(struct resample_axis *ax, double *w, int xx,
    int in_size, float in0, double scale, double filterscale)
{
	double support = RS_SUPPORT * filterscale;
	double center = in0 + (xx + 0.5) * scale;
	double ww = 0.0, ss = 1.0 / filterscale;
	int32_t *k = ax->k + (size_t)xx * ax->ksize;
	int xmin, xmax, x;

	xmin = (int)(center - support + 0.5);
	if (xmin < 0)
		xmin = 0;
	xmax = (int)(center + support + 0.5);
	if (xmax > in_size)
		xmax = in_size;
	xmax -= xmin;
	for (x = 0; x < xmax; x++) {
		w[x] = resample_lanczos((x + xmin - center + 0.5) * ss);
		ww += w[x];
	}
	for (x = 0; x < xmax; x++)
		k[x] = resample_fixed(ww != 0.0 ? w[x] / ww : w[x]);
	for (; x < ax->ksize; x++)
		k[x] = 0;
	ax->bounds[2 * xx] = xmin;
	ax->bounds[2 * xx + 1] = xmax;
}

static int
resample_axis_init(struct resample_axis *ax, int in_size, float in0,
    float in1, int out_size)
{
	/* Pillow subtracts the float box ends in float; so do we. */
	double scale = (double)(in1 - in0) / out_size;
	double filterscale = scale < 1.0 ? 1.0 : scale;
	double *w;
	int xx;

	ax->ksize = (int)ceil(RS_SUPPORT * filterscale) * 2 + 1;
	ax->bounds = malloc(2 * (size_t)out_size * sizeof(*ax->bounds));
	ax->k = malloc((size_t)out_size * ax->ksize * sizeof(*ax->k));
	w = malloc((size_t)ax->ksize * sizeof(*w));
	if (ax->bounds == NULL || ax->k == NULL || w == NULL) {
		free(w);
		resample_axis_release(ax);
		return -1;
	}
	for (xx = 0; xx < out_size; xx++)
		resample_axis_window(ax, w, xx, in_size, in0, scale,
		    filterscale);
	free(w);
	return 0;
}

/* Pillow's clip8: the rounded sum shifted down, clamped to a byte. */
static inline uint8_t
resample_clip(int32_t v)
{
	v = v < 0 ? 0 : v;
	v = v > (256 << RS_PRECISION) - 1 ? (256 << RS_PRECISION) - 1 : v;
	return (uint8_t)(v >> RS_PRECISION);
}

/* Pillow's MULDIV255, as its RGBA -> RGBa conversion rounds. */
static inline uint8_t
resample_premul(unsigned v, unsigned a)
{
	unsigned t = v * a + 128;

	return (uint8_t)(((t >> 8) + t) >> 8);
}

/*
 * Copies columns [xlo, xhi) of source rows [y, y + n) into strip laid out
 * as [column][row][4 bytes], premultiplying RGBA as Pillow's RGBA -> RGBa
 * conversion does. RGB pixels are moved as 4 bytes where the
 * next pixel's first byte is still inside the row; that fourth lane is
 * filtered but never stored. Rows past n are zero so the last, short
 * strip can run the same full-width loop.
 */
static inline __attribute__((always_inline)) void
resample_strip_load(uint8_t *strip, const struct mr_resample_image *src,
    int y, int n, int xlo, int xhi, const int ch)
{
	int wide = ch == 4 || xhi < (int)src->width ? xhi : xhi - 1;
	int r, x;

	if (n < RS_ROWS)
		memset(strip, 0, (size_t)(xhi - xlo) * RS_STRIP);
	for (r = 0; r < n; r++) {
		const uint8_t *s = src->pixels + (size_t)(y + r) * src->stride +
		    (size_t)xlo * ch;
		uint8_t *d = strip + r * 4;

		for (x = xlo; x < wide; x++, s += ch, d += RS_STRIP) {
			memcpy(d, s, 4);
			if (ch == 4) {
				d[0] = resample_premul(s[0], s[3]);
				d[1] = resample_premul(s[1], s[3]);
				d[2] = resample_premul(s[2], s[3]);
			}
		}
		if (x < xhi)
			memcpy(d, s, 3);
	}
}

/* Filters one strip across: n rows of the intermediate, starting at out. */
static inline __attribute__((always_inline)) void
resample_strip_filter(uint8_t *out, size_t ostride, int n,
    const uint8_t *strip, int xlo, const struct resample_axis *ax,
    int out_w, const int ch)
{
	int32_t acc[RS_STRIP];
	uint8_t px[RS_STRIP];
	int xx, x, j, r;

	for (xx = 0; xx < out_w; xx++) {
		const int32_t *k = ax->k + (size_t)xx * ax->ksize;
		const uint8_t *p = strip +
		    (size_t)(ax->bounds[2 * xx] - xlo) * RS_STRIP;
		int taps = ax->bounds[2 * xx + 1];

		for (j = 0; j < RS_STRIP; j++)
			acc[j] = RS_HALF;
		for (x = 0; x < taps; x++, p += RS_STRIP) {
			int32_t kx = k[x];

			for (j = 0; j < RS_STRIP; j++)
				acc[j] += p[j] * kx;
		}
		for (j = 0; j < RS_STRIP; j++)
			px[j] = resample_clip(acc[j]);
		for (r = 0; r < n; r++)
			memcpy(out + r * ostride + (size_t)xx * ch, px + r * 4,
			    ch);
	}
}

static inline __attribute__((always_inline)) void
resample_hpass(uint8_t *tmp, size_t tstride, uint8_t *strip,
    const struct mr_resample_image *src, int yfirst, int ylast,
    const struct resample_axis *ax, int out_w, const int ch)
{
	int xlo = ax->bounds[0];
	int xhi = ax->bounds[2 * (out_w - 1)] + ax->bounds[2 * (out_w - 1) + 1];
	int y, n;

	for (y = yfirst; y < ylast; y += RS_ROWS) {
		n = ylast - y < RS_ROWS ? ylast - y : RS_ROWS;
		resample_strip_load(strip, src, y, n, xlo, xhi, ch);
		resample_strip_filter(tmp + (size_t)(y - yfirst) * tstride,
		    tstride, n, strip, xlo, ax, out_w, ch);
	}
}

/* The channel count is a constant inside each, so the lane loops unroll. */
RS_HOT static void
resample_hpass_rgb(uint8_t *tmp, size_t tstride, uint8_t *strip,
    const struct mr_resample_image *src, int yfirst, int ylast,
    const struct resample_axis *ax, int out_w)
{
	resample_hpass(tmp, tstride, strip, src, yfirst, ylast, ax, out_w, 3);
}

RS_HOT static void
resample_hpass_rgba(uint8_t *tmp, size_t tstride, uint8_t *strip,
    const struct mr_resample_image *src, int yfirst, int ylast,
    const struct resample_axis *ax, int out_w)
{
	resample_hpass(tmp, tstride, strip, src, yfirst, ylast, ax, out_w, 4);
}

/* Pillow's RGBa -> RGBA: integer division, 0 and 255 alpha copied. */
static void
resample_unpremul(uint8_t *d, const uint8_t *s, uint32_t w)
{
	uint32_t x;
	int c;

	for (x = 0; x < w; x++, s += 4, d += 4) {
		unsigned a = s[3];

		for (c = 0; c < 3; c++) {
			unsigned v = a == 0 || a == 255 ? s[c] : 255u * s[c] / a;

			d[c] = (uint8_t)(v > 255 ? 255 : v);
		}
		d[3] = (uint8_t)a;
	}
}

/* Filters the intermediate down into dst, RS_LANES bytes of a row a step. */
RS_HOT static void
resample_vpass(const uint8_t *tmp, size_t tstride, uint8_t *line,
    const struct resample_axis *ax, struct mr_resample_image *dst)
{
	size_t row_bytes = (size_t)dst->width * dst->channels, i;
	uint32_t yy;
	int y, j;

	for (yy = 0; yy < dst->height; yy++) {
		const int32_t *k = ax->k + (size_t)yy * ax->ksize;
		const uint8_t *base = tmp + (size_t)ax->bounds[2 * yy] * tstride;
		int taps = ax->bounds[2 * yy + 1];
		uint8_t *d = dst->pixels + (size_t)yy * dst->stride;

		for (i = 0; i < tstride; i += RS_LANES) {
			int32_t acc[RS_LANES];

			for (j = 0; j < RS_LANES; j++)
				acc[j] = RS_HALF;
			for (y = 0; y < taps; y++) {
				const uint8_t *p = base + (size_t)y * tstride + i;
				int32_t ky = k[y];

				for (j = 0; j < RS_LANES; j++)
					acc[j] += p[j] * ky;
			}
			for (j = 0; j < RS_LANES; j++)
				line[i + j] = resample_clip(acc[j]);
		}
		if (dst->channels == 4)
			resample_unpremul(d, line, dst->width);
		else
			memcpy(d, line, row_bytes);
	}
}

static int
resample_valid_image(const struct mr_resample_image *im)
{
	return im != NULL && im->pixels != NULL &&
	    (im->channels == 3 || im->channels == 4) &&
	    im->width >= 1 && im->width <= MR_RESAMPLE_MAX_SIDE &&
	    im->height >= 1 && im->height <= MR_RESAMPLE_MAX_SIDE &&
	    im->stride >= (size_t)im->width * im->channels;
}

/* The box in float, as Pillow holds it; non-empty and inside the image. */
static int
resample_valid_box(double a0, double a1, uint32_t size, float *f0, float *f1)
{
	if (!isfinite(a0) || !isfinite(a1) || a0 < 0 || a1 > size)
		return 0;
	*f0 = (float)a0;
	*f1 = (float)a1;
	return *f0 < *f1;
}

/* Runs both passes once the windows are known; frees what it allocates. */
static int
resample_run(const struct mr_resample_image *src,
    struct resample_axis *hx, struct resample_axis *vy,
    struct mr_resample_image *dst)
{
	int h = (int)dst->height, w = (int)dst->width, ch = dst->channels;
	int yfirst = vy->bounds[0];
	int ylast = vy->bounds[2 * (h - 1)] + vy->bounds[2 * (h - 1) + 1];
	int xlo = hx->bounds[0];
	int xhi = hx->bounds[2 * (w - 1)] + hx->bounds[2 * (w - 1) + 1];
	size_t tstride = ((size_t)w * ch + RS_LANES - 1) / RS_LANES * RS_LANES;
	uint8_t *tmp, *line, *strip;
	int i, rc = -1;

	for (i = 0; i < h; i++)
		vy->bounds[2 * i] -= yfirst;
	/* Zeroed so the padding lanes of the vertical pass read defined bytes. */
	tmp = calloc((size_t)(ylast - yfirst), tstride);
	line = malloc(tstride);
	/* Zeroed: the fourth lane of an image's last RGB column is never set. */
	strip = calloc((size_t)(xhi - xlo), RS_STRIP);
	if (tmp != NULL && line != NULL && strip != NULL) {
		if (ch == 4)
			resample_hpass_rgba(tmp, tstride, strip, src, yfirst,
			    ylast, hx, w);
		else
			resample_hpass_rgb(tmp, tstride, strip, src, yfirst,
			    ylast, hx, w);
		resample_vpass(tmp, tstride, line, vy, dst);
		rc = 0;
	}
	free(strip);
	free(line);
	free(tmp);
	return rc;
}

int
mr_resample(const struct mr_resample_image *src, double x0, double y0,
    double x1, double y1, struct mr_resample_image *dst, struct mr_err *err)
{
	struct resample_axis hx = { 0, NULL, NULL }, vy = { 0, NULL, NULL };
	float fx0, fy0, fx1, fy1;
	int rc = -1;

	if (!resample_valid_image(src) || !resample_valid_image(dst) ||
	    src->channels != dst->channels)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "bad image for 'resample'");
	if (!resample_valid_box(x0, x1, src->width, &fx0, &fx1) ||
	    !resample_valid_box(y0, y1, src->height, &fy0, &fy1))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "bad box for 'resample'");
	if (resample_axis_init(&hx, (int)src->width, fx0, fx1,
	    (int)dst->width) == 0 &&
	    resample_axis_init(&vy, (int)src->height, fy0, fy1,
	    (int)dst->height) == 0)
		rc = resample_run(src, &hx, &vy, dst);
	resample_axis_release(&hx);
	resample_axis_release(&vy);
	if (rc < 0)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "out of memory in 'resample'");
	return 0;
}
