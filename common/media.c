/*
 * media: ingest and lookup of media items (see media.h).
 */
#include "media.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blob.h"

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
