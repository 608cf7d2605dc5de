/*
 * config: GET .../config tells clients the upload limit.
 */
#include "../common/http.h"

static int
config_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	(void)err;
	cJSON_AddNumberToObject(o, "m.upload.size",
	    (double)ctx->cfg.max_upload_size);
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const struct mr_program config_program = {
	.name = "config",
	.endpoints = MR_EP_BIT(MR_EP_CONFIG),
	.handler = config_handle,
};

int
main(void)
{
	return mr_http_serve(&config_program);
}
