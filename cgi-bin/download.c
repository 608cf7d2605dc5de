/*
 * download: GET/HEAD .../download/{server}/{id}[/{fileName}] on every
 * client prefix. Sends the stored bytes with the spec's headers; the web
 * server sends the file itself when X-Sendfile is configured.
 */
#include "../common/http.h"
#include "../common/media.h"

enum { P_TIMEOUT_MS, P_ALLOW_REMOTE, P_ALLOW_REDIRECT, P__MAX };

static const struct mr_param download_params[P__MAX] = {
	[P_TIMEOUT_MS] = { "timeout_ms", mr_valid_uint },
	[P_ALLOW_REMOTE] = { "allow_remote", mr_valid_bool },
	/* Accepted and ignored: we always answer with the bytes. */
	[P_ALLOW_REDIRECT] = { "allow_redirect", mr_valid_bool },
};

static int
download_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	const char *name;
	const char *content_type;
	char disposition[4096];
	struct mr_media m;
	struct mr_media_want want = {
		.timeout_ms = req->param[P_TIMEOUT_MS].present ?
		    req->param[P_TIMEOUT_MS].n : -1,
		.allow_remote = !req->param[P_ALLOW_REMOTE].present ||
		    req->param[P_ALLOW_REMOTE].n,
		.authenticated = req->authenticated,
	};

	if (mr_media_lookup(ctx, &req->mxc, &want, &m, err) < 0)
		return -1;
	name = req->n_path_params > 2 ? req->path_param[2] : m.upload_name;
	if (req->n_path_params > 2 && mr_valid_filename(name, NULL) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "invalid file name");
	content_type = m.content_type[0] ? m.content_type :
	    "application/octet-stream";
	if (mr_http_content_disposition(content_type, 0, name, disposition,
	    sizeof(disposition)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "file name too long");
	return mr_media_send_blob(req, ctx, m.sha256, content_type,
	    disposition, err);
}

static const struct mr_program download_program = {
	.name = "download",
	.endpoints = MR_EP_BIT(MR_EP_DOWNLOAD),
	.params = download_params,
	.n_params = P__MAX,
	.handler = download_handle,
};

int
main(void)
{
	return mr_http_serve(&download_program);
}
