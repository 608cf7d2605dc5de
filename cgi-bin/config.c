/*
 * config: GET .../config tells clients the upload limit; GET /health tells
 * a load balancer whether this server can serve (the cheapest program to
 * ask, and one that opens the database and the store like every other);
 * GET /metrics gives Prometheus the counters of every program.
 */
#include <stdlib.h>

#include "../common/http.h"
#include "../common/metrics.h"

/* Load balancers ask: 200 "OK" while we can serve (mr_ctx_health). */
static int
config_health(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	if (mr_ctx_health(ctx, err) < 0)
		return -1;
	mr_resp_header(req, "Content-Type", "text/plain");
	mr_resp_header(req, "Content-Length", "2");
	mr_resp_header(req, "Cache-Control", "no-store");
	if (mr_resp_begin(req, 200) < 0)
		return mr_err_set(err, 499, "M_UNKNOWN", "client went away");
	return mr_resp_write(req, "OK", 2);
}

/* Only metrics_allowed_ips may read them: they tell who does what. */
static int
config_metrics(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	char client[64], *text;
	size_t len;
	int rc;

	mr_req_client_addr(req, &ctx->cfg, client, sizeof(client));
	if (!mr_metrics_allowed(&ctx->cfg, client))
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "metrics are not served to this address");
	if (mr_metrics_scrape(&ctx->cfg, ctx->store, &text, &len, err) < 0)
		return -1;
	mr_resp_header(req, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	mr_resp_header(req, "Content-Length", "%zu", len);
	mr_resp_header(req, "Cache-Control", "no-store");
	rc = mr_resp_begin(req, 200) == 0 && mr_resp_write(req, text, len) == 0 ?
	    0 : mr_err_set(err, 499, "M_UNKNOWN", "client went away");
	free(text);
	return rc;
}

static int
config_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (req->route.endpoint == MR_EP_HEALTH)
		return config_health(req, ctx, err);
	if (req->route.endpoint == MR_EP_METRICS)
		return config_metrics(req, ctx, err);
	cJSON_AddNumberToObject(o, "m.upload.size",
	    (double)ctx->cfg.max_upload_size);
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const struct mr_program config_program = {
	.name = "config",
	.endpoints = MR_EP_BIT(MR_EP_CONFIG) | MR_EP_BIT(MR_EP_HEALTH) |
	    MR_EP_BIT(MR_EP_METRICS),
	.handler = config_handle,
};

int
main(void)
{
	return mr_http_serve(&config_program);
}
