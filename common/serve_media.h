/*
 * serve_media: media requests on the serving side: checking and reading
 * an upload's body, the query parameters of downloads and thumbnails,
 * and answering with a blob. The only media code that sees a request;
 * media.c keeps what a media item is and does.
 */
#ifndef MR_SERVE_MEDIA_H
#define MR_SERVE_MEDIA_H

#include "http.h"
#include "media.h"

/*
 * Checks an upload before its body is read: Content-Type (printable, at
 * most MR_CONTENT_TYPE_MAX) and a Content-Length within max_upload_size.
 * Fills m's content_type and upload_name.
 */
int mr_serve_media_check_upload(struct mr_req *req, const struct mr_config *cfg,
    const char *filename, struct mr_media *m, struct mr_err *err);
/*
 * Streams the request body into the blob store, in constant memory, and
 * sets m->sha256 and m->size. Nothing is visible to readers until the
 * caller records the row; on any failure the temp file is gone.
 */
int mr_serve_media_ingest(struct mr_req *req, const struct mr_config *cfg,
    struct mr_blob *blob, struct mr_media *m, struct mr_err *err);
/* Query parameters of download routes (client and federation). */
enum {
	MR_DL_TIMEOUT_MS, MR_DL_ALLOW_REMOTE, MR_DL_ALLOW_REDIRECT,
	MR_DL_BYPASS_QUARANTINE, MR_DL__MAX
};
extern const struct mr_param mr_serve_media_download_params[MR_DL__MAX];

/* Query parameters of thumbnail routes (client and federation). */
enum {
	MR_TH_WIDTH, MR_TH_HEIGHT, MR_TH_METHOD, MR_TH_ANIMATED,
	MR_TH_TIMEOUT_MS, MR_TH_ALLOW_REMOTE, MR_TH_ALLOW_REDIRECT,
	MR_TH_BYPASS_QUARANTINE, MR_TH__MAX
};
extern const struct mr_param mr_serve_media_thumbnail_params[MR_TH__MAX];

/*
 * The whole of a download or thumbnail request once the serve loop has
 * checked it, on any route: client routes may fetch remote media;
 * federation routes serve only this server's media (never proxying), as
 * raw bytes (MSC1902) or multipart/mixed (v1).
 */
int mr_serve_media_download(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err);
int mr_serve_media_thumbnail(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err);

/*
 * Answers with a stored blob and the media headers (see
 * mr_http_send_file). With X-Sendfile the web server reads the file, so
 * only its size is looked up here.
 */
int mr_serve_media_blob(struct mr_req *req, struct mr_ctx *ctx,
    const char *sha256, const char *content_type, const char *disposition,
    struct mr_err *err);

#endif
