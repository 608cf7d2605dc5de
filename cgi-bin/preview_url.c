/*
 * preview_url: GET .../preview_url?url=...[&ts=...] answers an OpenGraph
 * object for a web page (spec.md 6), token required, guests refused.
 */
#include <stdlib.h>
#include <string.h>

#include "../common/http.h"
#include "../common/preview.h"
#include "../common/preview_url.h"

enum { P_URL, P_TS, P__MAX };

/* The URL's own checks come later; here only what any text must pass. */
static int
preview_valid_url(const char *raw, struct mr_pval *out)
{
	size_t n = strlen(raw);

	(void)out;
	return n <= MR_PREVIEW_URL_MAX && mr_utf8_valid(raw, n) ? 0 : -1;
}

static const struct mr_param preview_params[P__MAX] = {
	[P_URL] = { "url", preview_valid_url },
	[P_TS] = { "ts", mr_valid_uint },
};

static int
preview_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	char *json;
	int rc;

	if (!ctx->cfg.url_preview_enabled)
		return mr_err_set(err, 404, "M_UNRECOGNIZED",
		    "URL previews are disabled");
	if (!req->param[P_URL].present || req->param[P_URL].s[0] == '\0')
		return mr_err_set(err, 400, "M_MISSING_PARAM", "missing 'url'");
	if (mr_preview_get(ctx, &req->user, req->param[P_URL].s,
	    req->param[P_TS].present ? req->param[P_TS].n : 0, &json, err) < 0)
		return -1;
	mr_resp_header(req, "Content-Type", "application/json");
	mr_resp_header(req, "Content-Length", "%zu", strlen(json));
	mr_resp_header(req, "Cache-Control", "no-store");
	rc = mr_resp_begin(req, 200) == 0 &&
	    mr_resp_write(req, json, strlen(json)) == 0 ? 0 : -1;
	free(json);
	return rc;
}

static const struct mr_program preview_program = {
	.name = "preview_url",
	.endpoints = MR_EP_BIT(MR_EP_PREVIEW_URL),
	.params = preview_params,
	.n_params = P__MAX,
	.handler = preview_handle,
};

int
main(void)
{
	return mr_http_serve(&preview_program);
}
