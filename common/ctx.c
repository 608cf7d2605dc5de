/*
 * ctx: the per-process context (see ctx.h).
 */
#include "ctx.h"

#include <string.h>
#include <unistd.h>

#include "fed.h"
#include "http_client.h"

int
mr_ctx_open(struct mr_ctx *ctx, const char *name, struct mr_err *err)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name;
	if (mr_config_load_env(&ctx->cfg, err) < 0 ||
	    mr_store_open(&ctx->store, mr_config_store_location(&ctx->cfg),
	    err) < 0 ||
	    mr_blob_store_open(&ctx->cfg, 1, &ctx->blob, err) < 0) {
		mr_ctx_close(ctx);
		return -1;
	}
	return 0;
}

void
mr_ctx_close(struct mr_ctx *ctx)
{
	mr_hc_free(ctx->whoami);
	mr_fed_free(ctx->fed);
	mr_blob_store_close(ctx->blob);
	mr_store_free(ctx->store);
	ctx->whoami = NULL;
	ctx->fed = NULL;
	ctx->blob = NULL;
	ctx->store = NULL;
}

struct mr_fed *
mr_ctx_fed(struct mr_ctx *ctx, struct mr_err *err)
{
	if (ctx->fed == NULL &&
	    mr_fed_open(&ctx->fed, &ctx->cfg, ctx->store, ctx->blob, err) < 0)
		return NULL;
	return ctx->fed;
}

int
mr_ctx_health(struct mr_ctx *ctx, struct mr_err *err)
{
	static const char no_hash[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";

	if ((ctx->cfg.database_url[0] == '\0' &&
	    access(ctx->cfg.database_path, R_OK | W_OK) < 0) ||
	    mr_store_hash_quarantined(ctx->store, no_hash, err) < 0)
		return mr_err_set(err, 503, "M_UNKNOWN", "database unavailable");
	return mr_blob_check(ctx->blob, err);
}
