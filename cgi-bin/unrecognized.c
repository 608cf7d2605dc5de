/*
 * unrecognized: the web server sends every /_matrix/ media path that no
 * other program serves here, so clients get the Matrix 404 M_UNRECOGNIZED
 * that makes them fall back, instead of an HTML page.
 */
#include "../common/http.h"

static int
unrecognized_handle(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err)
{
	(void)req;
	(void)ctx;
	return mr_err_set(err, 404, "M_UNRECOGNIZED", "unrecognized request");
}

static const struct mr_program unrecognized_program = {
	.name = "unrecognized",
	.endpoints = 0,		/* no route is ours: the loop answers 404 */
	.handler = unrecognized_handle,
};

int
main(void)
{
	return mr_http_serve(&unrecognized_program);
}
