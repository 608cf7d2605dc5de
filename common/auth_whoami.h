/*
 * auth_whoami: access tokens checked by the homeserver (auth = homeserver):
 * its GET /_matrix/client/v3/account/whoami decides, and the answers are
 * cached in the store. The parsing of an answer and the reading of a
 * cached one are apart from the request so tests need no homeserver.
 */
#ifndef MR_AUTH_WHOAMI_H
#define MR_AUTH_WHOAMI_H

#include <stddef.h>

#include "auth.h"
#include "store.h"
#include "util.h"

struct mr_config;
struct mr_hc;
struct mr_hc_buffer;
struct mr_hc_response;

/* Largest whoami answer read; real ones are under 200 bytes. */
#define MR_WHOAMI_MAX 65536

/*
 * Reads a whoami answer into *a. 200 with a valid "user_id" is an
 * accepted token ("is_guest" read, default false); 401 is a refused one,
 * keeping M_USER_LOCKED (else M_UNKNOWN_TOKEN) and "soft_logout"; 403 is
 * refused as M_FORBIDDEN. Both return 0 and may be cached. Anything else
 * is the homeserver failing, never the token: -1 with 503 for 5xx and
 * 429, 502 for the rest (a bad 200 body included).
 */
int mr_auth_whoami_parse(long status, const char *body, size_t len,
    struct mr_hs_auth *a, struct mr_err *err);
/*
 * A cached or fresh answer as the client sees it: 0 and *user when
 * accepted, else -1 with the refusal (soft_logout carried in err).
 */
int mr_auth_whoami_result(const struct mr_hs_auth *a, struct mr_user *user,
    struct mr_err *err);
/*
 * Checks token with cfg->homeserver_url's GET
 * /_matrix/client/v3/account/whoami (token as Bearer), through a cache
 * in st keyed by the token's SHA-256: accepted tokens are kept
 * homeserver_auth_cache_ttl, refused ones homeserver_auth_negative_ttl.
 * The URL is the operator's, so no address list applies. *hc is made on
 * first use and kept for the process (mr_hc_free). Unreachable: 502; 5xx
 * or past homeserver_auth_timeout: 503; never 401 for the homeserver's own
 * failure. A token that cannot go into a header is refused unasked.
 */
int mr_auth_check_homeserver(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, struct mr_user *user,
    struct mr_err *err);
/*
 * The same for an appservice acting for as_user (its request's
 * ?user_id=), which is passed on to whoami: the homeserver decides
 * whether the token may masquerade (403 when not), and the user it
 * answers is the user. Answers are cached per (token, as_user). A
 * malformed as_user is 400 unasked. as_user NULL: the token's own user.
 */
int mr_auth_check_homeserver_as(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, const char *as_user,
    struct mr_user *user, struct mr_err *err);
/* The cache key of (token, as_user): the token's hash when as_user is
 * NULL, else the SHA-256 of that hash, a newline and as_user (hex). */
void mr_auth_whoami_cache_key(const char *token, const char *as_user,
    char out[65]);

/*
 * GET path (beginning with '/') of homeserver_url with token as Bearer,
 * within timeout_ms, the body capped at body->max. 0 with the answer in
 * *rs and a 2xx body in *body (the caller frees body->data); -1 with 502
 * (unreachable) or 503 (no answer in time). The URL is the operator's: no
 * address list applies, redirects are not followed.
 */
int mr_auth_homeserver_get(struct mr_hc *hc, const struct mr_config *cfg,
    const char *path, const char *token, int64_t timeout_ms,
    struct mr_hc_buffer *body, struct mr_hc_response *rs, struct mr_err *err);
/*
 * s percent-encoded for one path segment or query value (RFC 3986's
 * unreserved bytes kept); -1 when it does not fit in outsz.
 */
int mr_auth_path_escape(const char *s, char *out, size_t outsz);

/* --- who may use Synapse's admin API (admin.fcgi, quarantine bypass) --- */

/* 1 when user_id is one of the comma-separated ids of list (exactly). */
int mr_auth_user_listed(const char *list, const char *user_id);
/*
 * Reads the homeserver's answer to GET /_synapse/admin/v1/users/{id}/admin:
 * 200 {"admin": true} is an admin; 200 otherwise, 401, 403 and 404 are not
 * (a non-admin asking gets 403 from Synapse). 0 and *is_admin, or -1 as
 * mr_auth_whoami_parse fails (503 for 5xx and 429, 502 for the rest).
 */
int mr_auth_admin_parse(long status, const char *body, size_t len,
    int *is_admin, struct mr_err *err);
/*
 * Whether user_id, whose token is token, may use the admin API: listed in
 * admin_users, or, with auth = homeserver, an admin by the homeserver's
 * GET /_synapse/admin/v1/users/{user_id}/admin asked with the token itself.
 * Those answers are cached like whoami's (keyed by a hash of the token
 * apart from whoami's), admins homeserver_auth_cache_ttl, others
 * homeserver_auth_negative_ttl. 0 for an admin; -1 with 403 M_FORBIDDEN for
 * anyone else, or 502/503 when the homeserver fails (never cached).
 */
int mr_auth_check_admin(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, const char *user_id,
    struct mr_err *err);

#endif
