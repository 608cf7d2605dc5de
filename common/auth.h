/*
 * auth: client access tokens of the local token table (auth = local).
 * Tokens are random strings handed out by tools/mediarepo-admin and kept in
 * the store as SHA-256 hex, so the database never holds a usable token.
 * Functions here take plain values and fill an mr_err with the Matrix
 * status the client must see. Tokens the homeserver checks are in
 * auth_whoami.h; the X-Matrix header of server-to-server requests is in
 * auth_xmatrix.h, which needs neither the store nor HTTP.
 */
#ifndef MR_AUTH_H
#define MR_AUTH_H

#include "store.h"
#include "util.h"

#define MR_TOKEN_MAX 512

struct mr_user {
	char user_id[MR_USER_ID_MAX + 1];
	int is_guest;
	int is_admin;		/* checked by mr_auth_check_admin, on demand */
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

#endif
