/*
 * auth: access tokens of the local token table (see auth.h).
 */
#include "auth.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mxc.h"

int
mr_auth_extract_token(const char *authorization, const char *query_token,
    int allow_query, char token[MR_TOKEN_MAX + 1], struct mr_err *err)
{
	const char *t = NULL;

	if (authorization != NULL && authorization[0] != '\0') {
		t = mr_skip_prefix_ci(authorization, "Bearer ");
		if (t != NULL) {
			while (*t == ' ')
				t++;
			if (*t == '\0' || strlen(t) > MR_TOKEN_MAX)
				return mr_err_set(err, 401, "M_UNKNOWN_TOKEN",
				    "malformed access token");
		}
	}
	if (t == NULL && allow_query && query_token != NULL)
		t = query_token;
	if (t == NULL)
		return mr_err_set(err, 401, "M_MISSING_TOKEN",
		    "missing access token");
	if (strlen(t) > MR_TOKEN_MAX || t[0] == '\0')
		return mr_err_set(err, 401, "M_UNKNOWN_TOKEN",
		    "malformed access token");
	snprintf(token, MR_TOKEN_MAX + 1, "%s", t);
	return 0;
}

void
mr_auth_hash_token(const char *token, char out[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	mr_hex_encode(digest, sizeof(digest), out);
}

int
mr_auth_check_token(struct mr_store *st, const char *token,
    struct mr_user *user, struct mr_err *err)
{
	struct mr_token_info info;
	char hash[65];

	mr_auth_hash_token(token, hash);
	switch (mr_store_token_lookup(st, hash, &info, err)) {
	case MR_STORE_OK:
		break;
	case MR_STORE_NOT_FOUND:
		return mr_err_set(err, 401, "M_UNKNOWN_TOKEN",
		    "unknown or revoked access token");
	default:
		return -1;
	}
	snprintf(user->user_id, sizeof(user->user_id), "%s", info.user_id);
	user->is_guest = info.is_guest;
	return 0;
}

int
mr_auth_create_token(struct mr_store *st, const char *user_id, int is_guest,
    char token[MR_TOKEN_MAX + 1], struct mr_err *err)
{
	char hash[65];

	if (!mr_mxc_valid_user_id(user_id))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid user id '%s' (expected @name:server)", user_id);
	/* "mr_" makes leaked tokens easy to spot; 43 chars carry 258 bits. */
	memcpy(token, "mr_", 3);
	mr_random_id(token + 3, 43);
	mr_auth_hash_token(token, hash);
	return mr_store_token_add(st, hash, user_id, is_guest, err);
}

