/*
 * thumbnail: GET/HEAD .../thumbnail/{server}/{id}?width=&height=
 * [&method=][&animated=][&timeout_ms=] on every client prefix.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/blob.h"
#include "../common/http.h"
#include "../common/media.h"

enum {
	P_WIDTH, P_HEIGHT, P_METHOD, P_ANIMATED, P_TIMEOUT_MS, P_ALLOW_REMOTE,
	P_ALLOW_REDIRECT, P__MAX
};

static int
thumbnail_valid_side(const char *raw, struct mr_pval *out)
{
	return mr_parse_int64(raw, 1, MR_THUMB_MAX_SIDE, &out->n);
}

static int
thumbnail_valid_method(const char *raw, struct mr_pval *out)
{
	enum mr_thumb_method m;

	if (mr_config_parse_method(raw, &m) < 0)
		return -1;
	out->n = m;
	return 0;
}

static const struct mr_param thumbnail_params[P__MAX] = {
	[P_WIDTH] = { "width", thumbnail_valid_side },
	[P_HEIGHT] = { "height", thumbnail_valid_side },
	[P_METHOD] = { "method", thumbnail_valid_method },
	[P_ANIMATED] = { "animated", mr_valid_bool },
	[P_TIMEOUT_MS] = { "timeout_ms", mr_valid_uint },
	[P_ALLOW_REMOTE] = { "allow_remote", mr_valid_bool },
	[P_ALLOW_REDIRECT] = { "allow_redirect", mr_valid_bool },
};

/* "thumbnail.png" and friends: thumbnails are always inline. */
static const char *
thumbnail_disposition(const char *content_type)
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

static int
thumbnail_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	struct mr_media_want want = {
		.timeout_ms = req->param[P_TIMEOUT_MS].present ?
		    req->param[P_TIMEOUT_MS].n : -1,
		.allow_remote = !req->param[P_ALLOW_REMOTE].present ||
		    req->param[P_ALLOW_REMOTE].n,
		.authenticated = req->authenticated,
	};
	struct mr_thumb_spec spec;
	struct mr_media_thumb t;
	struct mr_file_resp f = { .fd = -1 };
	char path[PATH_MAX];
	struct mr_media m;
	int rc;

	if (!req->param[P_WIDTH].present || !req->param[P_HEIGHT].present)
		return mr_err_set(err, 400, "M_MISSING_PARAM",
		    "width and height are required");
	spec.width = (uint32_t)req->param[P_WIDTH].n;
	spec.height = (uint32_t)req->param[P_HEIGHT].n;
	spec.method = req->param[P_METHOD].present ?
	    (enum mr_thumb_method)req->param[P_METHOD].n : MR_THUMB_SCALE;
	if (mr_media_lookup(ctx, &req->mxc, &want, &m, err) < 0 ||
	    mr_media_thumbnail(ctx, &m, &spec, req->param[P_ANIMATED].present &&
	    req->param[P_ANIMATED].n, &t, err) < 0)
		return -1;
	if (mr_blob_path(ctx->cfg.media_store_path, t.sha256, path,
	    sizeof(path), err) < 0 ||
	    mr_blob_open(ctx->cfg.media_store_path, t.sha256, &f.fd, &f.size,
	    err) < 0)
		return -1;
	f.path = path;
	f.content_type = t.content_type;
	f.disposition = thumbnail_disposition(t.content_type);
	f.etag_hex = t.sha256;
	f.is_private = req->route.api == MR_API_CLIENT_V1;
	rc = mr_http_send_file(req, &ctx->cfg, &f, err);
	close(f.fd);
	return rc;
}

static const struct mr_program thumbnail_program = {
	.name = "thumbnail",
	.endpoints = MR_EP_BIT(MR_EP_THUMBNAIL),
	.params = thumbnail_params,
	.n_params = P__MAX,
	.handler = thumbnail_handle,
};

int
main(void)
{
	return mr_http_serve(&thumbnail_program);
}
