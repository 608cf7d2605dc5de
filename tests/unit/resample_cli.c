/*
 * resample_cli: raw pixels in, mr_resample, raw pixels out, so that
 * bench/resample_check.py can compare us with Pillow and time us.
 *
 *   resample_cli IN W H CHANNELS OUT DW DH [X0 Y0 X1 Y1] [-n RUNS]
 *
 * With -n, runs the resize RUNS times and prints the best wall time in
 * milliseconds on stdout (reading and writing files are not timed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/resample.h"

static double
cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
cli_usage(void)
{
	fprintf(stderr, "usage: resample_cli IN W H CHANNELS OUT DW DH "
	    "[X0 Y0 X1 Y1] [-n RUNS]\n");
	exit(2);
}

static uint32_t
cli_dim(const char *s)
{
	int64_t v;

	if (mr_parse_int64(s, 1, MR_RESAMPLE_MAX_SIDE, &v) < 0)
		cli_usage();
	return (uint32_t)v;
}

static double
cli_coord(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0')
		cli_usage();
	return v;
}

static uint8_t *
cli_read(const char *path, size_t size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(size);

	if (f == NULL || buf == NULL || fread(buf, 1, size, f) != size) {
		fprintf(stderr, "cannot read %zu bytes from '%s'\n", size, path);
		exit(1);
	}
	fclose(f);
	return buf;
}

static void
cli_write(const char *path, const uint8_t *buf, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
		fprintf(stderr, "cannot write '%s'\n", path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct mr_resample_image src, dst;
	struct mr_err err;
	double box[4], best = 1e300, t;
	int64_t runs = 0;
	int i;

	if (argc >= 3 && strcmp(argv[argc - 2], "-n") == 0) {
		if (mr_parse_int64(argv[argc - 1], 1, 10000, &runs) < 0)
			cli_usage();
		argc -= 2;
	}
	if (argc != 8 && argc != 12)
		cli_usage();
	src.width = cli_dim(argv[2]);
	src.height = cli_dim(argv[3]);
	src.channels = argv[4][0] == '4' ? 4 : 3;
	src.stride = (size_t)src.width * src.channels;
	src.pixels = cli_read(argv[1], src.stride * src.height);
	dst.width = cli_dim(argv[6]);
	dst.height = cli_dim(argv[7]);
	dst.channels = src.channels;
	dst.stride = (size_t)dst.width * dst.channels;
	if ((dst.pixels = malloc(dst.stride * dst.height)) == NULL)
		return 1;
	box[0] = box[1] = 0;
	box[2] = src.width;
	box[3] = src.height;
	for (i = 0; argc == 12 && i < 4; i++)
		box[i] = cli_coord(argv[8 + i]);
	for (i = 0; i < (runs > 0 ? runs : 1); i++) {
		t = cli_now_ms();
		if (mr_resample(&src, box[0], box[1], box[2], box[3], &dst,
		    &err) < 0) {
			fprintf(stderr, "resample: %s\n", err.msg);
			return 1;
		}
		t = cli_now_ms() - t;
		best = t < best ? t : best;
	}
	if (runs > 0)
		printf("%.3f\n", best);
	cli_write(argv[5], dst.pixels, dst.stride * dst.height);
	free(src.pixels);
	free(dst.pixels);
	return 0;
}
