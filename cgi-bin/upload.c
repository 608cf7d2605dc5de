/*
 * upload: POST .../upload (new media) and PUT /_matrix/media/v3/upload/
 * {server}/{id} (content for an id reserved by create, MSC2246).
 */
#include <stdio.h>
#include <string.h>

#include "../common/http.h"
#include "../common/serve_media.h"

enum { P_FILENAME, P__MAX };

static const struct mr_param upload_params[P__MAX] = {
	[P_FILENAME] = { "filename", mr_valid_filename },
};

static int
upload_answer_uri(struct mr_req *req, const struct mr_mxc *mxc)
{
	char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	cJSON *o = cJSON_CreateObject();
	int rc;

	mr_mxc_format(mxc, uri, sizeof(uri));
	cJSON_AddStringToObject(o, "content_uri", uri);
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

/*
 * The body into the blob store, after a first quota check from
 * Content-Length that spares reading a body bound to be refused. The
 * check that counts, with the real size, is mr_media_create's, in one
 * step with the row, so that concurrent uploads cannot pass it together;
 * it releases refused bytes, and quarantine is its too.
 */
static int
upload_ingest(struct mr_req *req, struct mr_ctx *ctx, struct mr_media *m,
    struct mr_err *err)
{
	if (mr_media_upload_quota(ctx, m->user_id,
	    req->content_length > 0 ? req->content_length : 0, err) < 0 ||
	    mr_serve_media_ingest(req, &ctx->cfg, ctx->blob, m, err) < 0)
		return -1;
	return 0;
}

static int
upload_new(struct mr_req *req, struct mr_ctx *ctx, struct mr_media *m,
    struct mr_err *err)
{
	if (upload_ingest(req, ctx, m, err) < 0)
		return -1;
	mr_mxc_generate(ctx->cfg.server_name, &m->mxc);
	if (mr_media_create(&ctx->cfg, ctx->store, ctx->blob, MR_MEDIA_UPLOAD, m,
	    err) < 0)
		return -1;
	return upload_answer_uri(req, &m->mxc);
}

/* Every refusal is decided before the body is read (MSC2246). */
static int
upload_reserved(struct mr_req *req, struct mr_ctx *ctx, struct mr_media *m,
    struct mr_err *err)
{
	struct mr_media row;
	cJSON *o;
	int rc;

	if (strcmp(req->mxc.server, ctx->cfg.server_name) != 0 ||
	    mr_store_media_get(ctx->store, &req->mxc, &row, err) != MR_STORE_OK)
		return mr_err_set(err, 404, "M_NOT_FOUND", "unknown media id");
	if (row.sha256[0] != '\0')
		return mr_err_set(err, 409, "M_CANNOT_OVERWRITE_MEDIA",
		    "media already uploaded");
	if (row.expires_ts <= mr_now_ms())
		return mr_err_set(err, 404, "M_NOT_FOUND", "media id expired");
	if (strcmp(row.user_id, req->user.user_id) != 0)
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "media id was created by another user");
	if (upload_ingest(req, ctx, m, err) < 0)
		return -1;
	m->mxc = req->mxc;
	if (mr_media_create(&ctx->cfg, ctx->store, ctx->blob,
	    MR_MEDIA_UPLOAD_RESERVED, m, err) < 0)
		return -1;
	o = cJSON_CreateObject();
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static int
upload_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	struct mr_media m;

	memset(&m, 0, sizeof(m));
	mr_media_sweep_temp(ctx);
	if (mr_serve_media_check_upload(req, &ctx->cfg, req->param[P_FILENAME].s, &m,
	    err) < 0)
		return -1;
	snprintf(m.user_id, sizeof(m.user_id), "%s", req->user.user_id);
	m.created_ts = mr_now_ms();
	m.authenticated = ctx->cfg.enable_authenticated_media;
	if (req->route.endpoint == MR_EP_UPLOAD_PUT)
		return upload_reserved(req, ctx, &m, err);
	return upload_new(req, ctx, &m, err);
}

static const struct mr_program upload_program = {
	.name = "upload",
	.endpoints = MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_UPLOAD_PUT),
	.params = upload_params,
	.n_params = P__MAX,
	.handler = upload_handle,
};

int
main(void)
{
	return mr_http_serve(&upload_program);
}
