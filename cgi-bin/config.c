/*
 * config: GET .../config tells clients the upload limit; GET /health tells
 * a load balancer whether this server can serve (the cheapest program to
 * ask, and one that opens the database and the store like every other).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "../common/http.h"

/*
 * The database answers a query and its file is still there for us to
 * read and write (an open handle would go on reading a removed or
 * unreadable file, which no new process could open); the media store is
 * a directory we may write into.
 */
static int
config_health(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	static const char zero_hash[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct stat st;

	if ((ctx->cfg.database_url[0] == '\0' &&
	    access(ctx->cfg.database_path, R_OK | W_OK) < 0) ||
	    mr_store_hash_quarantined(ctx->store, zero_hash, err) < 0)
		return mr_err_set(err, 503, "M_UNKNOWN", "database unavailable");
	if (stat(ctx->cfg.media_store_path, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    access(ctx->cfg.media_store_path, R_OK | W_OK | X_OK) < 0)
		return mr_err_set(err, 503, "M_UNKNOWN", "media store unavailable");
	mr_resp_header(req, "Content-Type", "text/plain");
	mr_resp_header(req, "Content-Length", "2");
	mr_resp_header(req, "Cache-Control", "no-store");
	if (mr_resp_begin(req, 200) < 0)
		return mr_err_set(err, 499, "M_UNKNOWN", "client went away");
	return mr_resp_write(req, "OK", 2);
}

static int
config_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (req->route.endpoint == MR_EP_HEALTH)
		return config_health(req, ctx, err);
	cJSON_AddNumberToObject(o, "m.upload.size",
	    (double)ctx->cfg.max_upload_size);
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const struct mr_program config_program = {
	.name = "config",
	.endpoints = MR_EP_BIT(MR_EP_CONFIG) | MR_EP_BIT(MR_EP_HEALTH),
	.handler = config_handle,
};

int
main(void)
{
	return mr_http_serve(&config_program);
}
