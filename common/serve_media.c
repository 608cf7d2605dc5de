/*
 * serve_media: the serving side of media (see serve_media.h): what a
 * request brings (Content-Type, body, query parameters, route) and how a
 * blob goes back to the client. The media logic itself stays in media.c.
 */
#include "serve_media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "header.h"
#include "thumb.h"

#define SERVE_MEDIA_DEFAULT_TYPE "application/octet-stream"

int
mr_serve_media_check_upload(struct mr_req *req, const struct mr_config *cfg,
    const char *filename, struct mr_media *m, struct mr_err *err)
{
	const char *ct = mr_req_env(req, "CONTENT_TYPE");

	if (ct == NULL || ct[0] == '\0')
		ct = SERVE_MEDIA_DEFAULT_TYPE;
	if (strlen(ct) > MR_CONTENT_TYPE_MAX)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "Content-Type longer than %d bytes", MR_CONTENT_TYPE_MAX);
	/* The rules remote types follow too: see mr_header_content_type_clean. */
	if (mr_header_content_type_clean(ct, m->content_type,
	    sizeof(m->content_type)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid Content-Type");
	snprintf(m->upload_name, sizeof(m->upload_name), "%s",
	    filename ? filename : "");
	if (req->content_length > cfg->max_upload_size) {
		mr_err_set(err, 413, "M_TOO_LARGE",
		    "cannot upload files larger than %lld bytes",
		    (long long)cfg->max_upload_size);
		err->limit_name = "max_upload_size";
		return -1;
	}
	return 0;
}

int
mr_serve_media_ingest(struct mr_req *req, const struct mr_config *cfg,
    struct mr_blob *blob, struct mr_media *m, struct mr_err *err)
{
	struct mr_blob_writer *w;
	char buf[65536];
	ssize_t n;

	if (mr_blob_begin(blob, cfg->max_upload_size, &w, err) < 0)
		return -1;
	while ((n = mr_req_read(req, buf, sizeof(buf))) > 0) {
		if (mr_blob_write(w, buf, (size_t)n, err) < 0) {
			/* A body without Content-Length (chunked) meets
			 * max_upload_size only here, as the writer's cap. */
			if (err->status == 413)
				err->limit_name = "max_upload_size";
			mr_blob_abort(w);
			return -1;
		}
	}
	if (n < 0) {
		mr_blob_abort(w);
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "upload ended before its Content-Length");
	}
	return mr_blob_commit(w, m->sha256, &m->size, err);
}

/*
 * Whether the client follows a redirect to the bytes: always on the
 * authenticated client routes (the spec lets them answer 307), on the
 * legacy ones only when asked with allow_redirect=true. Federation
 * answers carry the bytes, and so do routes that did not ask.
 */
static int
serve_media_may_redirect(const struct mr_req *req)
{
	const struct mr_pval *allow;

	if (req->route.api == MR_API_CLIENT_V1)
		return 1;
	if (req->route.api != MR_API_LEGACY)
		return 0;
	allow = req->route.endpoint == MR_EP_THUMBNAIL ?
	    &req->param[MR_TH_ALLOW_REDIRECT] : &req->param[MR_DL_ALLOW_REDIRECT];
	return allow->present && allow->n;
}

/*
 * 307 to a URL valid for a while only (s3_presigned_expiry): never
 * cached, so a client asks again rather than follow a dead URL.
 */
static int
serve_media_redirect(struct mr_req *req, const char *url, struct mr_err *err)
{
	mr_resp_header(req, "Location", "%s", url);
	mr_resp_header(req, "Cache-Control", "no-store");
	mr_resp_header(req, "Content-Length", "0");
	return mr_resp_begin(req, 307) < 0 ?
	    mr_err_set(err, 499, "M_UNKNOWN", "client went away") : 0;
}

int
mr_serve_media_blob(struct mr_req *req, struct mr_ctx *ctx, const char *sha256,
    const char *content_type, const char *disposition, struct mr_err *err)
{
	struct mr_file_resp f = {
		.content_type = content_type,
		.disposition = disposition,
		.etag_hex = sha256,
		.is_private = req->route.api != MR_API_LEGACY &&
		    req->route.api != MR_API_MSC1902,
		.multipart = req->route.api == MR_API_FED_V1,
	};
	struct mr_blob_loc loc;
	int rc;

	if (serve_media_may_redirect(req)) {
		char url[4096];

		if ((rc = mr_blob_redirect_url(ctx->blob, sha256, url, sizeof(url),
		    err)) < 0)
			return -1;
		if (rc == 1)
			return serve_media_redirect(req, url, err);
	}
	if (ctx->cfg.xsendfile != MR_XSENDFILE_OFF && !f.multipart) {
		if (mr_blob_locate(ctx->blob, sha256, &loc, err) < 0)
			return -1;
		/* A blob the web server cannot reach is sent from here. */
		if (loc.kind == MR_BLOB_LOC_FILE) {
			f.path = loc.where;
			f.rel = loc.rel;
			f.size = loc.size;
			return mr_http_send_file(req, &ctx->cfg, &f, err);
		}
	}
	if (mr_blob_open(ctx->blob, sha256, &f.reader, &f.size, err) < 0)
		return -1;
	rc = mr_http_send_file(req, &ctx->cfg, &f, err);
	mr_blob_reader_close(f.reader);
	return rc;
}

/* --- serving download and thumbnail requests --- */

static int
serve_media_valid_side(const char *raw, struct mr_pval *out)
{
	return mr_parse_int64(raw, 1, MR_THUMB_MAX_SIDE, &out->n);
}

static int
serve_media_valid_method(const char *raw, struct mr_pval *out)
{
	enum mr_thumb_method m;

	if (mr_config_parse_method(raw, &m) < 0)
		return -1;
	out->n = m;
	return 0;
}

const struct mr_param mr_serve_media_download_params[MR_DL__MAX] = {
	[MR_DL_TIMEOUT_MS] = { "timeout_ms", mr_valid_uint },
	[MR_DL_ALLOW_REMOTE] = { "allow_remote", mr_valid_bool },
	/* true: a 307 to the S3 object is fine (s3_presigned_redirect). */
	[MR_DL_ALLOW_REDIRECT] = { "allow_redirect", mr_valid_bool },
	/* Honoured for admins only (http.c checks who asks). */
	[MR_DL_BYPASS_QUARANTINE] = { "admin_unsafely_bypass_quarantine",
	    mr_valid_bool },
};

const struct mr_param mr_serve_media_thumbnail_params[MR_TH__MAX] = {
	[MR_TH_WIDTH] = { "width", serve_media_valid_side },
	[MR_TH_HEIGHT] = { "height", serve_media_valid_side },
	[MR_TH_METHOD] = { "method", serve_media_valid_method },
	[MR_TH_ANIMATED] = { "animated", mr_valid_bool },
	[MR_TH_TIMEOUT_MS] = { "timeout_ms", mr_valid_uint },
	[MR_TH_ALLOW_REMOTE] = { "allow_remote", mr_valid_bool },
	[MR_TH_ALLOW_REDIRECT] = { "allow_redirect", mr_valid_bool },
	[MR_TH_BYPASS_QUARANTINE] = { "admin_unsafely_bypass_quarantine",
	    mr_valid_bool },
};

/*
 * How a request asks for media. Federation routes never proxy: another
 * server may only ask for ours (MSC3916), and MSC1902's origin must name
 * us; both are 404 otherwise.
 */
static int
serve_media_want(const struct mr_req *req, const struct mr_ctx *ctx,
    const struct mr_pval *timeout, const struct mr_pval *allow_remote,
    const struct mr_pval *bypass, struct mr_media_want *want,
    struct mr_err *err)
{
	int federation = req->route.api == MR_API_FED_MSC1902 ||
	    req->route.api == MR_API_FED_V1;

	if (federation && strcmp(req->mxc.server, ctx->cfg.server_name) != 0)
		return mr_err_set(err, 404, "M_NOT_FOUND",
		    "this server only serves its own media");
	want->timeout_ms = timeout->present ? timeout->n : -1;
	want->allow_remote = !federation &&
	    (!allow_remote->present || allow_remote->n);
	want->authenticated = req->authenticated;
	want->bypass_quarantine = bypass != NULL && bypass->present &&
	    bypass->n && req->user.is_admin;
	/* Whose bucket remote bytes fill: the user when there is one. */
	if (req->authenticated && req->user.user_id[0] != '\0')
		snprintf(want->requester, sizeof(want->requester), "%s",
		    req->user.user_id);
	else
		mr_req_client_addr(req, &ctx->cfg, want->requester,
		    sizeof(want->requester));
	return 0;
}

int
mr_serve_media_download(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err)
{
	struct mr_media_want want;
	const char *name, *content_type;
	char disposition[4096];
	struct mr_media m;

	if (serve_media_want(req, ctx, &req->param[MR_DL_TIMEOUT_MS],
	    &req->param[MR_DL_ALLOW_REMOTE],
	    &req->param[MR_DL_BYPASS_QUARANTINE], &want, err) < 0 ||
	    mr_media_lookup(ctx, &req->mxc, &want, &m, err) < 0)
		return -1;
	mr_media_touch(ctx->store, &m);
	/* Only the client route has a {fileName} segment. */
	name = req->route.endpoint == MR_EP_DOWNLOAD && req->n_path_params > 2 ?
	    req->path_param[2] : m.upload_name;
	if (name != m.upload_name && mr_valid_filename(name, NULL) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "invalid file name");
	/* A row stored before remote types were checked may hold any byte. */
	content_type = mr_header_content_type_clean(m.content_type, m.content_type,
	    sizeof(m.content_type)) == 0 ? m.content_type : SERVE_MEDIA_DEFAULT_TYPE;
	if (mr_header_content_disposition(content_type, 0, name, disposition,
	    sizeof(disposition)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "file name too long");
	return mr_serve_media_blob(req, ctx, m.sha256, content_type,
	    disposition, err);
}

/* "thumbnail.png" and friends: thumbnails are always inline. */
static const char *
serve_media_thumbnail_disposition(const char *content_type)
{
	static const struct { const char *type, *value; } names[] = {
		{ "image/jpeg", "inline; filename=\"thumbnail.jpg\"" },
		{ "image/png", "inline; filename=\"thumbnail.png\"" },
		{ "image/webp", "inline; filename=\"thumbnail.webp\"" },
		{ "image/gif", "inline; filename=\"thumbnail.gif\"" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].type, content_type) == 0)
			return names[i].value;
	return "inline";
}

int
mr_serve_media_thumbnail(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err)
{
	const struct mr_pval *p = req->param;
	struct mr_media_want want;
	struct mr_thumb_spec spec;
	struct mr_media_thumb t;
	struct mr_media m;

	if (!p[MR_TH_WIDTH].present || !p[MR_TH_HEIGHT].present)
		return mr_err_set(err, 400, "M_MISSING_PARAM",
		    "width and height are required");
	spec.width = (uint32_t)p[MR_TH_WIDTH].n;
	spec.height = (uint32_t)p[MR_TH_HEIGHT].n;
	spec.method = p[MR_TH_METHOD].present ?
	    (enum mr_thumb_method)p[MR_TH_METHOD].n : MR_THUMB_SCALE;
	if (serve_media_want(req, ctx, &p[MR_TH_TIMEOUT_MS], &p[MR_TH_ALLOW_REMOTE],
	    &p[MR_TH_BYPASS_QUARANTINE], &want, err) < 0 ||
	    mr_media_lookup(ctx, &req->mxc, &want, &m, err) < 0)
		return -1;
	mr_media_touch(ctx->store, &m);
	if (mr_media_thumbnail(ctx, &m, &spec, p[MR_TH_ANIMATED].present &&
	    p[MR_TH_ANIMATED].n, &t, err) < 0) {
		/* Spec: remote content too large to thumbnail is 502. */
		if (err->status == 413 &&
		    strcmp(m.mxc.server, ctx->cfg.server_name) != 0)
			err->status = 502;
		return -1;
	}
	return mr_serve_media_blob(req, ctx, t.sha256, t.content_type,
	    serve_media_thumbnail_disposition(t.content_type), err);
}
