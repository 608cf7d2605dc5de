/*
 * fed: talking to other servers. Outbound requests go through
 * common/http_client.c (libcurl, with the connect-time address check):
 * server discovery
 * (fed_discover.c decides, this module asks DNS and .well-known, cached
 * in the store), requests signed with this server's key, TLS checked
 * against the name discovery says, and every address checked against
 * ip_range_blacklist at connect time, for every hop. On top: fetching
 * other servers' keys and checking inbound X-Matrix requests, and
 * fetching remote media into the blob store.
 *
 * One struct mr_fed per process (it keeps a curl handle, so connections
 * are reused); made on first use by mr_ctx_fed().
 */
#ifndef MR_FED_H
#define MR_FED_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "mxc.h"
#include "store.h"
#include "util.h"

struct mr_fed;
struct mr_blob;

int mr_fed_open(struct mr_fed **out, const struct mr_config *cfg,
    struct mr_store *st, struct mr_blob *blob, struct mr_err *err);
void mr_fed_free(struct mr_fed *f);

/*
 * Checks an inbound federation request: the X-Matrix header, the
 * destination, the origin against the operator's lists, and the signature
 * over the request rebuilt from method, raw request-target and body with
 * this server as destination. Fills origin. 401 M_UNAUTHORIZED, 400 for a
 * malformed header, 403 M_FORBIDDEN for a blocked origin.
 */
int mr_fed_verify_request(struct mr_fed *f, const char *authorization,
    const char *method, const char *uri, const cJSON *content,
    char origin[MR_SERVER_NAME_MAX + 1], struct mr_err *err);

/* A public key of server, from the cache or fetched (rate-limited). */
int mr_fed_server_key(struct mr_fed *f, const char *server,
    const char *key_id, unsigned char pk[32], struct mr_err *err);

/* What a remote fetch brought in: bytes already committed to the blob store. */
struct mr_fed_media {
	char sha256[65];
	int64_t size;
	char content_type[MR_CONTENT_TYPE_MAX + 1];
	char filename[MR_UPLOAD_NAME_MAX + 1];
};

/*
 * Fetches mxc from its origin, newest API first: federation v1 media
 * (multipart, following a Location part), then MSC1902 remote_media, then
 * the legacy /_matrix/media/v3 and r0 download with allow_remote=false.
 * 404 M_NOT_FOUND when the origin has no such media, 502 when it cannot
 * be reached or sends too much (M_TOO_LARGE).
 */
int mr_fed_fetch_media(struct mr_fed *f, const struct mr_mxc *mxc,
    struct mr_fed_media *out, struct mr_err *err);

/* This server's key as /_matrix/key/v2/server publishes it (caller frees). */
cJSON *mr_fed_own_keys(struct mr_fed *f, int64_t valid_for_ms,
    struct mr_err *err);

#endif
