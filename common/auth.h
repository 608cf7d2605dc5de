/*
 * auth: client access tokens, and the X-Matrix header of server-to-server
 * requests (spec.md 4.1, 4.2). Tokens are random strings handed out by
 * tools/mediarepo-admin and kept in the store as SHA-256 hex, so the
 * database never holds a usable token. Functions here take plain values and
 * fill an mr_err with the Matrix status the client must see.
 */
#ifndef MR_AUTH_H
#define MR_AUTH_H

#include <cjson/cJSON.h>

#include "keys.h"
#include "mxc.h"
#include "store.h"
#include "util.h"

#define MR_TOKEN_MAX 512

struct mr_user {
	char user_id[MR_USER_ID_MAX + 1];
	int is_guest;
};

/*
 * Picks the token from an Authorization header ("Bearer X", any case) or,
 * when allow_query, the deprecated access_token query value. Neither
 * present: 401 M_MISSING_TOKEN. A header of another scheme counts as
 * missing, a malformed Bearer as unknown.
 */
int mr_auth_extract_token(const char *authorization, const char *query_token,
    int allow_query, char token[MR_TOKEN_MAX + 1], struct mr_err *err);
/* SHA-256 hex of a token, as stored. */
void mr_auth_hash_token(const char *token, char out[65]);
/* Looks the token up; 401 M_UNKNOWN_TOKEN when unknown or revoked. */
int mr_auth_check_token(struct mr_store *st, const char *token,
    struct mr_user *user, struct mr_err *err);
/* A new random token for user_id, stored hashed; printable once. */
int mr_auth_create_token(struct mr_store *st, const char *user_id,
    int is_guest, char token[MR_TOKEN_MAX + 1], struct mr_err *err);
/* 1 when s looks like a Matrix user id: "@localpart:server_name". */
int mr_auth_valid_user_id(const char *s);

/* --- auth = homeserver: the homeserver's /account/whoami decides --- */

struct mr_config;
struct mr_hc;

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

/* --- X-Matrix (server-to-server) --- */

/*
 * Longest Authorization header we read. Real ones are under 500 bytes;
 * unknown parameters are skipped unread, so this bounds that work.
 */
#define MR_XMATRIX_HEADER_MAX 8192

/* One X-Matrix header, every field checked and unescaped. */
struct mr_xmatrix {
	char origin[MR_SERVER_NAME_MAX + 1];
	char destination[MR_SERVER_NAME_MAX + 1];	/* empty when absent */
	char key[MR_KEY_ID_MAX + 1];			/* "ed25519:VERSION" */
	char sig[128];					/* base64 characters */
};

/*
 * Parses an Authorization header value (RFC 9110 credentials, spec.md
 * 4.2). No header or another scheme: 401 M_UNAUTHORIZED ("missing
 * X-Matrix authorization"). Malformed: 400 M_UNAUTHORIZED, as Synapse
 * answers: bad syntax, a missing or duplicated origin/key/sig/destination,
 * an empty or over-long value, an invalid server name or key id, a sig
 * that is not base64. Unknown parameters are ignored. On failure *out is
 * zeroed. The signature itself is not checked here.
 */
int mr_auth_parse_xmatrix(const char *header, struct mr_xmatrix *out,
    struct mr_err *err);
/*
 * Writes the header value as senders must (spec.md 4.2): one space after
 * X-Matrix, lower-case names, quoted values, no spaces around commas:
 *   X-Matrix origin="...",destination="...",key="...",sig="..."
 * destination is left out when empty. Returns 0, or -1 when out is too
 * small or a field is empty or holds a byte that would need escaping.
 */
int mr_auth_format_xmatrix(const struct mr_xmatrix *x, char *out,
    size_t outsz);
/*
 * The signed request object of spec.md 4.1: {"method", "uri", "origin",
 * "destination"[, "content"]}; content is deep-copied when not NULL (pass
 * NULL for requests without a body). The caller deletes the result. NULL
 * when out of memory or a string argument is NULL.
 */
cJSON *mr_auth_request_object(const char *method, const char *uri,
    const char *origin, const char *destination, const cJSON *content);

#endif
