/*
 * keys: GET /_matrix/key/v2/server publishes this server's signing key,
 * self-signed and valid for a day, for deployments where no homeserver
 * answers that path for us. The older /_matrix/key/v2/server/{keyId}, which
 * servers before Synapse 1.70 still ask, gets the same answer.
 */
#include "../common/fed.h"
#include "../common/http.h"

#define KEYS_VALID_MS (24 * 3600 * INT64_C(1000))

static int
keys_handle(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	struct mr_fed *f = mr_ctx_fed(ctx, err);
	cJSON *o;
	int rc;

	if (f == NULL || (o = mr_fed_own_keys(f, KEYS_VALID_MS, err)) == NULL)
		return -1;
	rc = mr_resp_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const struct mr_program keys_program = {
	.name = "keys",
	.endpoints = MR_EP_BIT(MR_EP_KEYS),
	.handler = keys_handle,
};

int
main(void)
{
	return mr_http_serve(&keys_program);
}
