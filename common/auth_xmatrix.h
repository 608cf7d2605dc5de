/*
 * auth_xmatrix: the X-Matrix header of server-to-server requests (spec.md
 * 4.1, 4.2): parsing what a sender wrote, writing what we send, the
 * request object both sides sign, and signing and checking it with a key
 * in hand. Pure functions over strings and cJSON: no store, no network,
 * so the fuzzer links only this, keys, json, mxc and util. Finding the
 * sender's key (cache, fetch, rate limit) and the operator's server lists
 * are mr_fed_verify_request's (fed.h).
 */
#ifndef MR_AUTH_XMATRIX_H
#define MR_AUTH_XMATRIX_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "keys.h"
#include "mxc.h"
#include "util.h"

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

/*
 * The header value that signs method uri (and content, NULL without a
 * body) from origin to destination with key, as
 * mr_auth_format_xmatrix writes it. 500 when out of memory or out is too
 * small.
 */
int mr_auth_sign_xmatrix(const struct mr_signing_key *key, const char *origin,
    const char *destination, const char *method, const char *uri,
    const cJSON *content, char *out, size_t outsz, struct mr_err *err);
/*
 * Checks x's signature by the public key pk over the request rebuilt from
 * method, uri and content with destination (this server, whatever x
 * says). 401 M_UNAUTHORIZED "invalid signature from ORIGIN".
 */
int mr_auth_verify_xmatrix(const struct mr_xmatrix *x,
    const unsigned char pk[32], const char *destination, const char *method,
    const char *uri, const cJSON *content, struct mr_err *err);

#endif
