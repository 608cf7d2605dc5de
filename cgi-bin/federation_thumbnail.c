/*
 * federation_thumbnail: the thumbnail counterpart of federation_download,
 * byte-identical to the client thumbnail for the same parameters.
 */
#include "../common/http.h"
#include "../common/serve_media.h"

static const struct mr_program federation_thumbnail_program = {
	.name = "federation_thumbnail",
	.endpoints = MR_EP_BIT(MR_EP_FED_THUMBNAIL),
	.params = mr_serve_media_thumbnail_params,
	.n_params = MR_TH__MAX,
	.handler = mr_serve_media_thumbnail,
};

int
main(void)
{
	return mr_http_serve(&federation_thumbnail_program);
}
