/*
 * download: GET/HEAD .../download/{server}/{id}[/{fileName}] on every
 * client prefix. Sends the stored bytes with the spec's headers (the web
 * server sends the file itself when X-Sendfile is configured), fetching
 * remote media first.
 */
#include "../common/http.h"
#include "../common/serve_media.h"

static const struct mr_program download_program = {
	.name = "download",
	.endpoints = MR_EP_BIT(MR_EP_DOWNLOAD),
	.params = mr_serve_media_download_params,
	.n_params = MR_DL__MAX,
	.handler = mr_serve_media_download,
};

int
main(void)
{
	return mr_http_serve(&download_program);
}
