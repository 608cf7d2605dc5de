/*
 * auth_whoami: tokens checked by the homeserver (see auth_whoami.h).
 */
#include "auth_whoami.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "config.h"
#include "http_client.h"

int
mr_auth_whoami_parse(long status, const char *body, size_t len,
    struct mr_hs_auth *a, struct mr_err *err)
{
	cJSON *o = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *v;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (status == 200) {
		v = cJSON_GetObjectItemCaseSensitive(o, "user_id");
		if (!cJSON_IsString(v) || !mr_mxc_valid_user_id(v->valuestring))
			rc = mr_err_set(err, 502, "M_UNKNOWN",
			    "homeserver whoami answer has no valid user_id");
		else
			snprintf(a->user_id, sizeof(a->user_id), "%s",
			    v->valuestring);
		a->is_guest = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o,
		    "is_guest"));
	} else if (status == 401 || status == 403) {
		v = cJSON_GetObjectItemCaseSensitive(o, "errcode");
		snprintf(a->errcode, sizeof(a->errcode), "%s", status == 403 ?
		    "M_FORBIDDEN" : cJSON_IsString(v) &&
		    strcmp(v->valuestring, "M_USER_LOCKED") == 0 ?
		    "M_USER_LOCKED" : "M_UNKNOWN_TOKEN");
		a->soft_logout = status == 401 && cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(o, "soft_logout"));
	} else if (status >= 500 || status == 429) {
		rc = mr_err_set(err, 503, "M_UNKNOWN",
		    "homeserver cannot check tokens now (it answered %ld)", status);
	} else {
		rc = mr_err_set(err, 502, "M_UNKNOWN",
		    "homeserver whoami answered %ld", status);
	}
	cJSON_Delete(o);
	return rc;
}

int
mr_auth_whoami_result(const struct mr_hs_auth *a, struct mr_user *user,
    struct mr_err *err)
{
	/* err->errcode must outlive a, so it points at one of these. */
	static const char *const codes[] = {
		"M_UNKNOWN_TOKEN", "M_USER_LOCKED", "M_FORBIDDEN"
	};
	const char *code = codes[0];

	if (a->user_id[0] != '\0') {
		snprintf(user->user_id, sizeof(user->user_id), "%s", a->user_id);
		user->is_guest = a->is_guest;
		return 0;
	}
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(a->errcode, codes[i]) == 0)
			code = codes[i];
	mr_err_set(err, code == codes[2] ? 403 : 401, code,
	    "access token refused by the homeserver");
	err->soft_logout = a->soft_logout;
	return -1;
}

/* 1 when every byte of token may go into an Authorization header. */
static int
auth_header_safe(const char *token)
{
	for (const char *p = token; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7E)
			return 0;
	return 1;
}

void
mr_auth_whoami_cache_key(const char *token, const char *as_user,
    char out[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	char hash[65];

	mr_auth_hash_token(token, hash);
	if (as_user == NULL) {
		memcpy(out, hash, sizeof(hash));
		return;
	}
	/* A newline is in neither a hex hash nor a user id: no two pairs
	 * hash the same text. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)hash, 64);
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)as_user,
	    strlen(as_user));
	crypto_hash_sha256_final(&st, digest);
	mr_hex_encode(digest, sizeof(digest), out);
}

int
mr_auth_homeserver_get(struct mr_hc *hc, const struct mr_config *cfg,
    const char *path, const char *token, int64_t timeout_ms,
    struct mr_hc_buffer *body, struct mr_hc_response *rs, struct mr_err *err)
{
	struct mr_hc_request rq;
	char url[MR_HOMESERVER_URL_MAX + 1024], bearer[MR_TOKEN_MAX + 8];
	size_t n = strlen(cfg->homeserver_url);
	int rc;

	while (n > 0 && cfg->homeserver_url[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s%s", (int)n, cfg->homeserver_url, path);
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	memset(&rq, 0, sizeof(rq));
	body->data = NULL;
	body->len = 0;
	rq.url = url;
	rq.authorization = bearer;
	rq.protocols = "https,http";
	rq.connect_timeout_ms = cfg->homeserver_auth_timeout;
	rq.timeout_ms = timeout_ms;
	rq.verify_tls = 1;
	rq.trusted = 1;		/* the operator's own homeserver */
	rq.sink = mr_hc_collect;
	rq.arg = body;
	rc = mr_hc_get(hc, &rq, rs, err);
	sodium_memzero(bearer, sizeof(bearer));
	if (rc < 0) {
		char why[sizeof(err->msg)];

		free(body->data);
		body->data = NULL;
		if (err->status == 504)
			return mr_err_set(err, 503, "M_UNKNOWN",
			    "homeserver did not answer in time");
		snprintf(why, sizeof(why), "%s", err->msg);
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "homeserver request failed: %.200s", why);
	}
	return 0;
}

/*
 * Asks the homeserver, for as_user when an appservice masquerades (the
 * homeserver decides whether the token may); 0 with *a (accepted or
 * refused), or -1.
 */
static int
auth_whoami(struct mr_hc *hc, const struct mr_config *cfg,
    const char *token, const char *as_user, struct mr_hs_auth *a,
    struct mr_err *err)
{
	struct mr_hc_buffer body = { NULL, 0, MR_WHOAMI_MAX };
	struct mr_hc_response rs;
	char path[64 + 3 * MR_USER_ID_MAX], user_q[3 * MR_USER_ID_MAX + 1];
	int rc;

	if (as_user != NULL &&
	    mr_auth_path_escape(as_user, user_q, sizeof(user_q)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "'user_id' is too long");
	snprintf(path, sizeof(path), "/_matrix/client/v3/account/whoami%s%s",
	    as_user != NULL ? "?user_id=" : "", as_user != NULL ? user_q : "");
	if (mr_auth_homeserver_get(hc, cfg, path, token,
	    cfg->homeserver_auth_timeout, &body, &rs, err) < 0)
		return -1;
	if (rs.status >= 200 && rs.status < 300)
		rc = mr_auth_whoami_parse(rs.status, body.data, body.len, a, err);
	else
		rc = mr_auth_whoami_parse(rs.status, rs.errbody, rs.errlen, a, err);
	free(body.data);
	return rc;
}

int
mr_auth_check_homeserver(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, struct mr_user *user,
    struct mr_err *err)
{
	return mr_auth_check_homeserver_as(hc, st, cfg, token, NULL, user, err);
}

int
mr_auth_check_homeserver_as(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, const char *as_user,
    struct mr_user *user, struct mr_err *err)
{
	struct mr_hs_auth a;
	char hash[65];
	int64_t now = mr_now_ms(), ttl;
	int rc;

	if (!auth_header_safe(token))
		return mr_err_set(err, 401, "M_UNKNOWN_TOKEN",
		    "malformed access token");
	if (as_user != NULL && !mr_mxc_valid_user_id(as_user))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "'user_id' is not a user id");
	mr_auth_whoami_cache_key(token, as_user, hash);
	if ((rc = mr_store_hs_auth_get(st, hash, now, &a, err)) ==
	    MR_STORE_UNAVAILABLE)
		return -1;
	if (rc == MR_STORE_OK)
		return mr_auth_whoami_result(&a, user, err);
	if (*hc == NULL && mr_hc_new(hc, err) < 0)
		return -1;
	if (auth_whoami(*hc, cfg, token, as_user, &a, err) < 0)
		return -1;
	ttl = a.user_id[0] != '\0' ? cfg->homeserver_auth_cache_ttl :
	    cfg->homeserver_auth_negative_ttl;
	if (ttl > 0 && mr_store_hs_auth_put(st, hash, &a, now, now + ttl,
	    err) < 0)
		return -1;
	return mr_auth_whoami_result(&a, user, err);
}

/* --- the admin API's admins --- */

int
mr_auth_user_listed(const char *list, const char *user_id)
{
	size_t want = strlen(user_id);

	while (*list != '\0') {
		size_t n;

		list += strspn(list, " ,");
		if ((n = strcspn(list, " ,")) == 0)
			break;
		if (n == want && memcmp(list, user_id, n) == 0)
			return 1;
		list += n;
	}
	return 0;
}

int
mr_auth_admin_parse(long status, const char *body, size_t len, int *is_admin,
    struct mr_err *err)
{
	cJSON *o;

	*is_admin = 0;
	if (status == 401 || status == 403 || status == 404)
		return 0;
	if (status >= 500 || status == 429)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "homeserver cannot say who is an admin now (it answered %ld)",
		    status);
	if (status != 200)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "homeserver's admin check answered %ld", status);
	o = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	*is_admin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "admin"));
	cJSON_Delete(o);
	return 0;
}

int
mr_auth_path_escape(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 4 > outsz)
			return -1;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* The homeserver's word; 0 with *is_admin, or -1. */
static int
auth_ask_admin(struct mr_hc *hc, const struct mr_config *cfg,
    const char *token, const char *user_id, int *is_admin, struct mr_err *err)
{
	struct mr_hc_buffer body = { NULL, 0, MR_WHOAMI_MAX };
	struct mr_hc_response rs;
	char esc[3 * MR_USER_ID_MAX + 1], path[sizeof(esc) + 64];
	int rc;

	if (mr_auth_path_escape(user_id, esc, sizeof(esc)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "user id too long");
	snprintf(path, sizeof(path), "/_synapse/admin/v1/users/%s/admin", esc);
	if (mr_auth_homeserver_get(hc, cfg, path, token,
	    cfg->homeserver_auth_timeout, &body, &rs, err) < 0)
		return -1;
	rc = mr_auth_admin_parse(rs.status, body.data, body.len, is_admin, err);
	free(body.data);
	return rc;
}

static int
auth_not_admin(struct mr_err *err)
{
	return mr_err_set(err, 403, "M_FORBIDDEN", "You are not a server admin");
}

int
mr_auth_check_admin(struct mr_hc **hc, struct mr_store *st,
    const struct mr_config *cfg, const char *token, const char *user_id,
    struct mr_err *err)
{
	char key[MR_TOKEN_MAX + 32], hash[65];
	struct mr_hs_auth a;
	int64_t now = mr_now_ms(), ttl;
	int is_admin = 0, rc;

	if (mr_auth_user_listed(cfg->admin_users, user_id))
		return 0;
	if (cfg->auth != MR_AUTH_HOMESERVER || !auth_header_safe(token))
		return auth_not_admin(err);
	/* Cached beside whoami's answers, under a key of its own. */
	snprintf(key, sizeof(key), "synapse-admin-check %s", token);
	mr_auth_hash_token(key, hash);
	sodium_memzero(key, sizeof(key));
	if ((rc = mr_store_hs_auth_get(st, hash, now, &a, err)) ==
	    MR_STORE_UNAVAILABLE)
		return -1;
	if (rc == MR_STORE_OK)
		return strcmp(a.user_id, user_id) == 0 ? 0 :
		    auth_not_admin(err);
	if (*hc == NULL && mr_hc_new(hc, err) < 0)
		return -1;
	if (auth_ask_admin(*hc, cfg, token, user_id, &is_admin, err) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	if (is_admin)
		snprintf(a.user_id, sizeof(a.user_id), "%s", user_id);
	else
		snprintf(a.errcode, sizeof(a.errcode), "M_FORBIDDEN");
	ttl = is_admin ? cfg->homeserver_auth_cache_ttl :
	    cfg->homeserver_auth_negative_ttl;
	if (ttl > 0 && mr_store_hs_auth_put(st, hash, &a, now, now + ttl,
	    err) < 0)
		return -1;
	return is_admin ? 0 : auth_not_admin(err);
}
