/*
 * create: POST /_matrix/media/v1/create reserves a media id for an
 * asynchronous upload (MSC2246); the bytes follow by PUT to upload.
 */
#include <stdio.h>
#include <string.h>

#include "../common/http.h"
#include "../common/media.h"

static int
create_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	struct mr_media m;
	int64_t now = mr_now_ms(), retry_ms = 0;
	cJSON *o;
	int rc;

	memset(&m, 0, sizeof(m));
	mr_mxc_generate(ctx->cfg.server_name, &m.mxc);
	snprintf(m.user_id, sizeof(m.user_id), "%s", req->user.user_id);
	m.created_ts = now;
	m.expires_ts = now + ctx->cfg.unused_expiration_time;
	m.authenticated = ctx->cfg.enable_authenticated_media;
	if (mr_media_create_ratelimit(ctx, req->user.user_id, err) < 0)
		return -1;
	switch (mr_store_media_create_pending(ctx->store, &m,
	    ctx->cfg.max_pending_media_uploads, now, &retry_ms, err)) {
	case MR_STORE_OK:
		break;
	case MR_STORE_BUSY:
		mr_err_set(err, 429, "M_LIMIT_EXCEEDED",
		    "too many pending uploads (limit %lld)",
		    (long long)ctx->cfg.max_pending_media_uploads);
		err->retry_after_ms = retry_ms;
		err->limit_name = "max_pending_media_uploads";
		return -1;
	case MR_STORE_CONFLICT:
		return mr_err_set(err, 409, "M_CANNOT_OVERWRITE_MEDIA",
		    "media id already taken");
	default:
		return -1;
	}
	mr_mxc_format(&m.mxc, uri, sizeof(uri));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "content_uri", uri);
	cJSON_AddNumberToObject(o, "unused_expires_at", (double)m.expires_ts);
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const struct mr_program create_program = {
	.name = "create",
	.endpoints = MR_EP_BIT(MR_EP_CREATE),
	.handler = create_handle,
};

int
main(void)
{
	return mr_http_serve(&create_program);
}
