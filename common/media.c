/*
 * media: ingest and lookup of media items (see media.h).
 */
#include "media.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "thumb.h"

#define MEDIA_DEFAULT_TYPE "application/octet-stream"
#define MEDIA_DEFAULT_WAIT_MS 20000
#define MEDIA_POLL_MS 100

int
mr_media_check_upload(struct mr_req *req, const struct mr_config *cfg,
    const char *filename, struct mr_media *m, struct mr_err *err)
{
	const char *ct = mr_req_env(req, "CONTENT_TYPE");

	if (ct == NULL || ct[0] == '\0')
		ct = MEDIA_DEFAULT_TYPE;
	if (strlen(ct) > MR_CONTENT_TYPE_MAX)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "Content-Type longer than %d bytes", MR_CONTENT_TYPE_MAX);
	/* It is sent back verbatim later, so only printable ASCII. */
	for (const char *p = ct; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7E)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "invalid Content-Type");
	snprintf(m->content_type, sizeof(m->content_type), "%s", ct);
	snprintf(m->upload_name, sizeof(m->upload_name), "%s",
	    filename ? filename : "");
	if (req->content_length > cfg->max_upload_size)
		return mr_err_set(err, 413, "M_TOO_LARGE",
		    "cannot upload files larger than %lld bytes",
		    (long long)cfg->max_upload_size);
	return 0;
}

int
mr_media_ingest_body(struct mr_req *req, const struct mr_config *cfg,
    struct mr_media *m, struct mr_err *err)
{
	struct mr_blob_writer w;
	char buf[65536];
	ssize_t n;

	if (mr_blob_begin(cfg->media_store_path, cfg->max_upload_size, &w,
	    err) < 0)
		return -1;
	while ((n = mr_req_read(req, buf, sizeof(buf))) > 0) {
		if (mr_blob_write(&w, buf, (size_t)n, err) < 0) {
			mr_blob_abort(&w);
			return -1;
		}
	}
	if (n < 0) {
		mr_blob_abort(&w);
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "upload ended before its Content-Length");
	}
	m->size = w.size;
	return mr_blob_commit(cfg->media_store_path, &w, m->sha256, err);
}

static void
media_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int
mr_media_lookup(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    const struct mr_media_want *want, struct mr_media *out,
    struct mr_err *err)
{
	int64_t deadline, timeout_ms = want->timeout_ms;

	if (strcmp(mxc->server, ctx->cfg.server_name) != 0) {
		if (!want->allow_remote)
			return mr_err_set(err, 404, "M_NOT_FOUND",
			    "remote media and allow_remote is false");
		return mr_media_fetch_remote(ctx, mxc, out, err);
	}
	if (timeout_ms < 0)
		timeout_ms = MEDIA_DEFAULT_WAIT_MS;
	if (timeout_ms > ctx->cfg.max_pending_media_wait)
		timeout_ms = ctx->cfg.max_pending_media_wait;
	deadline = mr_mono_ms() + timeout_ms;
	for (;;) {
		if (mr_store_media_get(ctx->store, mxc, out, err) < 0)
			return -1;
		/* Frozen media is absent from unauthenticated routes (spec
		 * 2.10), for as long as the freeze is on. */
		if (out->quarantined || (out->authenticated &&
		    !want->authenticated && ctx->cfg.enable_authenticated_media))
			return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
		if (out->sha256[0] != '\0')
			return 0;
		/* An async id whose upload window closed is gone. */
		if (out->expires_ts > 0 && out->expires_ts <= mr_now_ms())
			return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
		if (mr_mono_ms() >= deadline)
			return mr_err_set(err, 504, "M_NOT_YET_UPLOADED",
			    "content has not yet been uploaded");
		/* Polling the row is cheap and needs no channel between
		 * processes; the upload may come through any of them. */
		media_sleep_ms(MEDIA_POLL_MS);
	}
}

int
mr_media_fetch_remote(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err)
{
	(void)ctx;
	(void)out;
	return mr_err_set(err, 404, "M_NOT_FOUND",
	    "remote media from '%s' is not available", mxc->server);
}

void
mr_media_sweep_temp(struct mr_ctx *ctx)
{
	struct mr_err err;

	/* tmp/ holds only uploads in flight, so a scan per upload is cheap. */
	if (mr_blob_sweep(ctx->cfg.media_store_path, ctx->cfg.temp_file_max_age,
	    &err) < 0)
		fprintf(stderr, "mediarepo: temp sweep: %s\n", err.msg);
}

/* --- thumbnails --- */

/* A blob mapped read-only for the decoders. */
struct media_map {
	unsigned char *data;
	size_t len;
};

static int
media_map_blob(const struct mr_config *cfg, const char *sha256,
    struct media_map *map, struct mr_err *err)
{
	int64_t size;
	int fd;

	map->data = NULL;
	map->len = 0;
	if (mr_blob_open(cfg->media_store_path, sha256, &fd, &size, err) < 0)
		return -1;
	if (size > 0) {
		void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			close(fd);
			return mr_err_set(err, 500, "M_UNKNOWN", "cannot map media");
		}
		map->data = p;
		map->len = (size_t)size;
	}
	close(fd);
	return 0;
}

static void
media_unmap(struct media_map *map)
{
	if (map->data != NULL)
		munmap(map->data, map->len);
	map->data = NULL;
}

/* Stores one generated thumbnail as a blob and a row. */
static int
media_store_thumb(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *box, int animated, int dynamic,
    const struct mr_thumb_result *r, struct mr_thumb_row *row,
    struct mr_err *err)
{
	struct mr_blob_writer w;

	memset(row, 0, sizeof(*row));
	if (mr_blob_begin(ctx->cfg.media_store_path, (int64_t)r->len + 1, &w,
	    err) < 0)
		return -1;
	if (mr_blob_write(&w, r->data, r->len, err) < 0) {
		mr_blob_abort(&w);
		return -1;
	}
	if (mr_blob_commit(ctx->cfg.media_store_path, &w, row->sha256, err) < 0)
		return -1;
	row->mxc = m->mxc;
	row->width = box->width;
	row->height = box->height;
	row->crop = box->method == MR_THUMB_CROP;
	row->animated = animated;
	row->size = (int64_t)r->len;
	snprintf(row->content_type, sizeof(row->content_type), "%s",
	    r->content_type);
	row->actual_width = r->width;
	row->actual_height = r->height;
	row->dynamic = dynamic;
	return mr_store_thumb_put(ctx->store, row, err);
}

int
mr_media_pregenerate_thumbnails(struct mr_ctx *ctx, const struct mr_media *m,
    struct mr_err *err)
{
	struct mr_thumb_result results[MR_THUMB_MAX_SPECS];
	struct mr_thumb_limits lim;
	struct mr_image_info info;
	struct media_map map;
	size_t n = ctx->cfg.n_thumbnail_sizes;
	int rc = 0;

	mr_thumb_limits_from_config(&ctx->cfg, &lim);
	if (media_map_blob(&ctx->cfg, m->sha256, &map, err) < 0)
		return -1;
	/* Not an image, or one we will not decode: nothing to make. */
	if (mr_thumb_check(map.data, map.len, &lim, &info, err) < 0 ||
	    mr_thumb_generate(map.data, map.len, ctx->cfg.thumbnail_sizes, n, 0,
	    &lim, results, err) < 0) {
		media_unmap(&map);
		mr_err_clear(err);
		return 0;
	}
	media_unmap(&map);
	for (size_t i = 0; i < n; i++) {
		struct mr_thumb_row row;

		if (rc == 0 && !results[i].use_original)
			rc = media_store_thumb(ctx, m, &ctx->cfg.thumbnail_sizes[i],
			    0, 0, &results[i], &row, err);
		mr_thumb_result_release(&results[i]);
	}
	return rc;
}

/* The box a request is served from: configured, or made to measure. */
static void
media_thumb_box(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *want, struct mr_thumb_spec *box,
    int *dynamic)
{
	const struct mr_config *cfg = &ctx->cfg;
	struct mr_err ignored;
	int64_t made = 0;

	*dynamic = 0;
	for (size_t i = 0; i < cfg->n_thumbnail_sizes; i++) {
		if (cfg->thumbnail_sizes[i].width == want->width &&
		    cfg->thumbnail_sizes[i].height == want->height &&
		    cfg->thumbnail_sizes[i].method == want->method) {
			*box = *want;
			return;
		}
	}
	/* On-demand sizes stop at a cap so nobody can fill the disk with
	 * one image; past it the configured sizes serve. */
	if (cfg->dynamic_thumbnails &&
	    mr_store_thumb_count_dynamic(ctx->store, &m->mxc, &made,
	    &ignored) == 0 && made < cfg->max_thumbnails_per_media) {
		*box = *want;
		*dynamic = 1;
		return;
	}
	*box = cfg->thumbnail_sizes[mr_thumb_pick(cfg->thumbnail_sizes,
	    cfg->n_thumbnail_sizes, want->width, want->height, want->method)];
}

static int
media_thumb_stored(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *box, int animated, struct mr_media_thumb *out)
{
	struct mr_thumb_row row;
	struct mr_err ignored;
	char path[PATH_MAX];
	struct stat sb;

	if (mr_store_thumb_get(ctx->store, &m->mxc, box->width, box->height,
	    box->method == MR_THUMB_CROP, animated, &row, &ignored) < 0)
		return -1;
	/* A row whose file went missing is made again by the caller. */
	if (mr_blob_path(ctx->cfg.media_store_path, row.sha256, path,
	    sizeof(path), &ignored) < 0 || stat(path, &sb) < 0)
		return -1;
	snprintf(out->sha256, sizeof(out->sha256), "%s", row.sha256);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    row.content_type);
	out->size = row.size;
	return 0;
}

int
mr_media_thumbnail(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *want, int animated, struct mr_media_thumb *out,
    struct mr_err *err)
{
	struct mr_thumb_result r;
	struct mr_thumb_limits lim;
	struct mr_thumb_spec box;
	struct mr_thumb_row row;
	struct media_map map;
	int dynamic, rc;

	media_thumb_box(ctx, m, want, &box, &dynamic);
	if (media_thumb_stored(ctx, m, &box, animated, out) == 0)
		return 0;
	mr_thumb_limits_from_config(&ctx->cfg, &lim);
	if (media_map_blob(&ctx->cfg, m->sha256, &map, err) < 0)
		return -1;
	rc = mr_thumb_generate(map.data, map.len, &box, 1, animated, &lim, &r,
	    err);
	media_unmap(&map);
	if (rc < 0)
		return -1;
	if (r.use_original) {
		snprintf(out->sha256, sizeof(out->sha256), "%s", m->sha256);
		snprintf(out->content_type, sizeof(out->content_type), "%s",
		    r.content_type);
		out->size = m->size;
		return 0;
	}
	rc = media_store_thumb(ctx, m, &box, animated, dynamic, &r, &row, err);
	mr_thumb_result_release(&r);
	if (rc < 0)
		return -1;
	snprintf(out->sha256, sizeof(out->sha256), "%s", row.sha256);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    row.content_type);
	out->size = row.size;
	return 0;
}
