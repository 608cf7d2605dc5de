/*
 * thumbnail: GET/HEAD .../thumbnail/{server}/{id}?width=&height=
 * [&method=][&animated=][&timeout_ms=] on every client prefix.
 */
#include "../common/http.h"
#include "../common/serve_media.h"

static const struct mr_program thumbnail_program = {
	.name = "thumbnail",
	.endpoints = MR_EP_BIT(MR_EP_THUMBNAIL),
	.params = mr_serve_media_thumbnail_params,
	.n_params = MR_TH__MAX,
	.handler = mr_serve_media_thumbnail,
};

int
main(void)
{
	return mr_http_serve(&thumbnail_program);
}
