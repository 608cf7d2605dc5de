/*
 * fuzz_route: libFuzzer target for what the serve loop does with a
 * REQUEST_URI before any handler runs: the route table (mr_http_route),
 * percent-decoding (mr_pct_decode), the query string and the path
 * parameters, decoded into the request's scratch buffer. It includes
 * common/http.c to reach the two static parsers. Besides memory errors it
 * checks the contracts: a route's parameters start at a '/' within the
 * path; decoded text holds no control byte and encodes back to itself;
 * the scratch buffer and the parameter arrays hold; a route with a server
 * and a media id has them checked, and every refusal is a 400 or 404.
 *
 * Built by make fuzz / make fuzz-replay (sources: FUZZ_route).
 * ./fuzz_route tests/fuzz/corpus/route
 */
#include "../../common/http.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_no_controls(const char *s, size_t n)
{
	if (strlen(s) != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			abort();
}

/* Decodes len bytes of src; what comes out encodes back to itself. */
static void
check_pct(const char *src, size_t len, int plus_space)
{
	char *dst = malloc(len + 1), *enc = NULL, *back = NULL;
	ssize_t n;

	if (dst == NULL)
		return;
	n = mr_pct_decode(src, len, dst, plus_space);
	if (n >= 0) {
		if ((size_t)n > len)
			abort();
		check_no_controls(dst, (size_t)n);
		enc = malloc(3 * (size_t)n + 1);
		back = malloc((size_t)n + 1);
		if (enc == NULL || back == NULL)
			goto out;
		for (ssize_t i = 0; i < n; i++)
			snprintf(enc + 3 * i, 4, "%%%02X", (unsigned char)dst[i]);
		if (mr_pct_decode(enc, 3 * (size_t)n, back, plus_space) != n ||
		    memcmp(back, dst, (size_t)n) != 0)
			abort();
	}
out:
	free(back);
	free(enc);
	free(dst);
}

static void
check_refusal(int rc, const struct mr_err *err, int s1, int s2)
{
	if (rc != 0 && rc != -1)
		abort();
	if (rc < 0 && err->status != s1 && err->status != s2)
		abort();
}

static void
check_request(const char *uri, size_t path_len, const char *q,
    const struct mr_route *route, size_t params_at)
{
	static struct mr_ctx ctx;
	static struct mr_req req;	/* large: not on the stack */
	struct mr_err err;
	int rc;

	snprintf(ctx.cfg.server_name, sizeof(ctx.cfg.server_name),
	    "example.org");
	memset(&req, 0, sizeof(req));
	req.route = *route;
	memset(&err, 0, sizeof(err));
	rc = http_parse_query(&req, q, &err);
	check_refusal(rc, &err, 400, 400);
	if (req.scratch_used > sizeof(req.scratch) ||
	    req.n_query > MR_QUERY_MAX_PARAMS)
		abort();
	for (unsigned i = 0; i < req.n_query; i++) {
		check_no_controls(req.query_name[i], strlen(req.query_name[i]));
		check_no_controls(req.query_value[i], strlen(req.query_value[i]));
	}
	memset(&err, 0, sizeof(err));
	rc = http_path_params(&req, &ctx, uri + params_at, path_len - params_at,
	    &err);
	check_refusal(rc, &err, 400, 404);
	if (req.scratch_used > sizeof(req.scratch) ||
	    req.n_path_params > MR_PATH_MAX_PARAMS)
		abort();
	for (unsigned i = 0; i < req.n_path_params; i++)
		check_no_controls(req.path_param[i], strlen(req.path_param[i]));
	if (rc == 0 && req.mxc.server[0] != '\0' &&
	    (!mr_mxc_valid_server_name(req.mxc.server) ||
	    !mr_mxc_valid_media_id(req.mxc.id)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_route route, again;
	size_t path_len, params_at, at2;
	const char *q;
	char *uri, *path;
	int rc;

	/* http_prepare refuses longer ones before routing. */
	if (size > MR_URI_MAX || (uri = malloc(size + 1)) == NULL)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	check_pct(uri, size, 0);
	check_pct(uri, size, 1);
	q = strchr(uri, '?');
	path_len = q ? (size_t)(q - uri) : strlen(uri);
	memset(&route, 0, sizeof(route));
	memset(&again, 0, sizeof(again));
	params_at = SIZE_MAX;
	if (mr_http_route(uri, path_len, &route, &params_at) == 0) {
		if (params_at > path_len ||
		    (params_at < path_len && uri[params_at] != '/') ||
		    (unsigned)route.endpoint >= MR_EP__MAX || route.methods == 0)
			abort();
		check_request(uri, path_len, q ? q + 1 : NULL, &route, params_at);
	}
	/* The route reads path_len bytes and no more: the same answer from
	 * an exact copy without a NUL, which ASan guards. */
	if ((path = malloc(path_len ? path_len : 1)) != NULL) {
		memcpy(path, uri, path_len);
		rc = mr_http_route(path, path_len, &again, &at2);
		if (rc != (params_at == SIZE_MAX ? -1 : 0) || (rc == 0 &&
		    (memcmp(&route, &again, sizeof(route)) != 0 ||
		    at2 != params_at)))
			abort();
		free(path);
	}
	free(uri);
	return 0;
}
