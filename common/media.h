/*
 * media: the life of one media item across blob and store, without HTTP
 * (serve_media.c turns requests into these calls). Lookup finds a row,
 * waiting for an async upload to arrive or fetching another server's
 * media through fed; every new row, whatever its source, goes through
 * mr_media_create; thumbnails are made or picked here; deleting a row
 * releases the blobs no other row names.
 */
#ifndef MR_MEDIA_H
#define MR_MEDIA_H

#include <stdint.h>

#include "blob.h"
#include "ctx.h"
#include "thumb.h"
#include "store.h"

/* How a download or thumbnail request asks for media. */
struct mr_media_want {
	int64_t timeout_ms;	/* wait for a pending upload; < 0: default */
	int allow_remote;	/* 0: never fetch from another server */
	int authenticated;	/* asked on a route that checked a token */
	char requester[256];	/* user id or client address; "" = no limit */
	int bypass_quarantine;	/* an admin asked for quarantined media */
};

/*
 * The row of mxc, ready to serve. A pending async upload is waited for up
 * to timeout_ms (capped by the config), then 504 M_NOT_YET_UPLOADED.
 * Media frozen by enable_authenticated_media is not found on
 * unauthenticated routes. Media of another server goes to
 * mr_media_fetch_remote.
 */
int mr_media_lookup(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    const struct mr_media_want *want, struct mr_media *out,
    struct mr_err *err);
/*
 * Gets media of another server into the local cache through fed, one
 * process fetching while the others wait for its row.
 */
int mr_media_fetch_remote(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err);
/* What answers a thumbnail request: a stored thumbnail or the original. */
struct mr_media_thumb {
	char sha256[65];		/* blob to send */
	char content_type[MR_CONTENT_TYPE_MAX + 1];
	int64_t size;
};

/*
 * Makes the configured thumbnail sizes of a freshly stored image (decode
 * once, resample each). Media that is not a thumbnailable image is left
 * alone: 0 either way unless the store itself fails.
 */
int mr_media_pregenerate_thumbnails(const struct mr_config *cfg,
    struct mr_store *st, struct mr_blob *blob, const struct mr_media *m,
    struct mr_err *err);
/*
 * The thumbnail of m for a w x h box with a method: the stored one the
 * request picks, made (again) when missing, made to measure with
 * dynamic_thumbnails up to max_thumbnails_per_media, or the original when
 * it already fits. 400/413 when the media cannot be thumbnailed.
 */
int mr_media_thumbnail(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *want, int animated, struct mr_media_thumb *out,
    struct mr_err *err);

/* Removes temp files left by crashed or vanished uploads. */
void mr_media_sweep_temp(struct mr_ctx *ctx);

/* rc_media_create_*: 429 M_LIMIT_EXCEEDED with retry_after_ms past it. */
int mr_media_create_ratelimit(struct mr_ctx *ctx, const char *user_id,
    struct mr_err *err);
/*
 * media_upload_limits: 400 M_RESOURCE_LIMIT_EXCEEDED when incoming more
 * bytes would take user_id past any period's limit. An early answer only
 * (before a body is read): uploads running meanwhile are not counted yet,
 * so mr_media_create checks again as it writes the row.
 */
int mr_media_upload_quota(struct mr_ctx *ctx, const char *user_id,
    int64_t incoming, struct mr_err *err);

/* Where a new media row comes from; mr_media_create's table says what
 * each one does. */
enum mr_media_source {
	MR_MEDIA_UPLOAD,		/* POST upload: a new id */
	MR_MEDIA_UPLOAD_RESERVED,	/* PUT upload: bytes for a created id */
	MR_MEDIA_PREVIEW,		/* an og:image a URL preview stored */
	MR_MEDIA_REMOTE,		/* another server's media, now cached */
	MR_MEDIA_IMPORT,		/* a Synapse row the operator imports */
	MR_MEDIA__SOURCES
};

/*
 * Records m, whose bytes are already in the blob store, as a media row:
 * the one way a row gets its bytes, so that quarantine holds on every
 * path. Bytes an operator quarantined are refused (403 M_FORBIDDEN, the
 * blob released unless some row still names it) when the row would be a
 * new id of this server; an imported row, whose id users already know,
 * is kept but quarantined (m->quarantined set). A row born quarantined
 * also bans its bytes. Then the row itself: inserted, or for a reserved
 * id completed (409 when taken or already uploaded); an upload that would
 * take its user past media_upload_limits is refused in the same step
 * (400 M_RESOURCE_LIMIT_EXCEEDED, or 429 when the user's other uploads
 * hold the store too long) and its blob released. Uploads and preview
 * images get their configured thumbnails at once; their failure is
 * logged and leaves the row standing.
 */
int mr_media_create(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, enum mr_media_source src, struct mr_media *m,
    struct mr_err *err);

/* --- operator work: deleting media and the files nobody names --- */

/*
 * Removes the blob sha256 unless a media or thumbnail row names it: 1
 * removed, 0 kept (named, or already gone), -1 on error. A blob is
 * shared by every row with the same bytes, so rows are deleted first and
 * the file only when the last one is gone.
 */
int mr_media_blob_release(struct mr_store *st, struct mr_blob *blob,
    const char *sha256, struct mr_err *err);

struct mr_media_freed {
	int64_t blobs;			/* files removed */
	int64_t bytes;			/* their size */
};

/*
 * Deletes mxc's row and its thumbnails, then each of their blobs that no
 * other row names; adds what was removed to *freed. 404 when unknown.
 */
int mr_media_delete(struct mr_store *st, struct mr_blob *blob,
    const struct mr_mxc *mxc, struct mr_media_freed *freed,
    struct mr_err *err);

/*
 * Records that m was read now (last_access_ts, which retention and the
 * admin API's before_ts go by), at most once per
 * MR_STORE_ACCESS_GRANULARITY: a read of a recently read media writes
 * nothing. A failure is logged and otherwise ignored: serving goes on.
 */
void mr_media_touch(struct mr_store *st, const struct mr_media *m);

#endif
