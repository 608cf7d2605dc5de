/*
 * thumbnail: GET/HEAD .../thumbnail/{server}/{id}?width=&height=
 * [&method=][&animated=][&timeout_ms=] on every client prefix.
 */
#include <string.h>

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
	struct mr_media m;

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
	return mr_media_send_blob(req, ctx, t.sha256, t.content_type,
	    thumbnail_disposition(t.content_type), err);
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
