/*
 * federation_download: other servers fetch our media, signed with
 * X-Matrix (checked by the serve loop): MSC1902's
 * /_matrix/federation/{v1,unstable/org.matrix.msc1902}/remote_media/
 * download/{origin}/{id} (raw bytes) and Matrix 1.11's
 * /_matrix/federation/v1/media/download/{id} (multipart/mixed).
 */
#include "../common/http.h"
#include "../common/serve_media.h"

static const struct mr_program federation_download_program = {
	.name = "federation_download",
	.endpoints = MR_EP_BIT(MR_EP_FED_DOWNLOAD),
	.params = mr_serve_media_download_params,
	.n_params = MR_DL__MAX,
	.handler = mr_serve_media_download,
};

int
main(void)
{
	return mr_http_serve(&federation_download_program);
}
