/*
 * auth: access tokens and the X-Matrix header (see auth.h).
 */
#include "auth.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "http_client.h"
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

	if (!mr_auth_valid_user_id(user_id))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid user id '%s' (expected @name:server)", user_id);
	/* "mr_" makes leaked tokens easy to spot; 43 chars carry 258 bits. */
	memcpy(token, "mr_", 3);
	mr_random_id(token + 3, 43);
	mr_auth_hash_token(token, hash);
	return mr_store_token_add(st, hash, user_id, is_guest, err);
}

int
mr_auth_valid_user_id(const char *s)
{
	const char *colon;
	size_t n;

	if (s == NULL || s[0] != '@' || (n = strlen(s)) > MR_USER_ID_MAX)
		return 0;
	if ((colon = strchr(s, ':')) == NULL || colon == s + 1)
		return 0;
	/* Historical user ids allow any printable ASCII in the localpart. */
	for (const char *p = s + 1; p < colon; p++)
		if (*p < 0x21 || *p > 0x7E)
			return 0;
	return mr_mxc_valid_server_name(colon + 1);
}

/* --- auth = homeserver --- */

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
		if (!cJSON_IsString(v) || !mr_auth_valid_user_id(v->valuestring))
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

/* Asks the homeserver; 0 with *a (accepted or refused), or -1. */
static int
auth_whoami(struct mr_hc *hc, const struct mr_config *cfg,
    const char *token, struct mr_hs_auth *a, struct mr_err *err)
{
	struct mr_hc_buffer body = { NULL, 0, MR_WHOAMI_MAX };
	struct mr_hc_request rq;
	struct mr_hc_response rs;
	char url[MR_HOMESERVER_URL_MAX + 64], bearer[MR_TOKEN_MAX + 8];
	size_t n = strlen(cfg->homeserver_url);
	int rc;

	while (n > 0 && cfg->homeserver_url[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/_matrix/client/v3/account/whoami",
	    (int)n, cfg->homeserver_url);
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	memset(&rq, 0, sizeof(rq));
	rq.url = url;
	rq.authorization = bearer;
	rq.protocols = "https,http";
	rq.connect_timeout_ms = cfg->homeserver_auth_timeout;
	rq.timeout_ms = cfg->homeserver_auth_timeout;
	rq.verify_tls = 1;
	rq.trusted = 1;		/* the operator's own homeserver */
	rq.sink = mr_hc_collect;
	rq.arg = &body;
	rc = mr_hc_get(hc, &rq, &rs, err);
	sodium_memzero(bearer, sizeof(bearer));
	if (rc < 0) {
		char why[sizeof(err->msg)];

		free(body.data);
		if (err->status == 504)
			return mr_err_set(err, 503, "M_UNKNOWN",
			    "homeserver did not answer whoami in time");
		snprintf(why, sizeof(why), "%s", err->msg);
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "homeserver whoami failed: %.200s", why);
	}
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
	struct mr_hs_auth a;
	char hash[65];
	int64_t now = mr_now_ms(), ttl;
	int rc;

	if (!auth_header_safe(token))
		return mr_err_set(err, 401, "M_UNKNOWN_TOKEN",
		    "malformed access token");
	mr_auth_hash_token(token, hash);
	if ((rc = mr_store_hs_auth_get(st, hash, now, &a, err)) ==
	    MR_STORE_UNAVAILABLE)
		return -1;
	if (rc == MR_STORE_OK)
		return mr_auth_whoami_result(&a, user, err);
	if (*hc == NULL && mr_hc_new(hc, err) < 0)
		return -1;
	if (auth_whoami(*hc, cfg, token, &a, err) < 0)
		return -1;
	ttl = a.user_id[0] != '\0' ? cfg->homeserver_auth_cache_ttl :
	    cfg->homeserver_auth_negative_ttl;
	if (ttl > 0 && mr_store_hs_auth_put(st, hash, &a, now, now + ttl,
	    err) < 0)
		return -1;
	return mr_auth_whoami_result(&a, user, err);
}

/* --- X-Matrix --- */

enum { XM_ORIGIN, XM_DESTINATION, XM_KEY, XM_SIG, XM__MAX };

#define XM_FIELD(f) \
	offsetof(struct mr_xmatrix, f), sizeof(((struct mr_xmatrix *)0)->f)

/* The parameters we read; the buffer size bounds each value. */
static const struct {
	const char *name;
	size_t off;
	size_t size;
} auth_xmatrix_params[XM__MAX] = {
	[XM_ORIGIN] = { "origin", XM_FIELD(origin) },
	[XM_DESTINATION] = { "destination", XM_FIELD(destination) },
	[XM_KEY] = { "key", XM_FIELD(key) },
	[XM_SIG] = { "sig", XM_FIELD(sig) },
};

static int
auth_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar. */
static int
auth_is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/*
 * Bytes of an unquoted value. Beyond tchar: ':' because old senders wrote
 * origin=example.org:8448 (a receiver rule of spec.md 4.2), and '/' and
 * '=' because base64 sigs hold them and Synapse, which takes everything
 * after the first '=', accepts such senders. None of the three can end a
 * value early: ',' and the quotes still delimit.
 */
static int
auth_xmatrix_unquoted(char c)
{
	return auth_is_tchar(c) || c == ':' || c == '/' || c == '=';
}

/*
 * Reads the token or quoted-string at *pp into dst (dstsz bytes, NUL
 * included; dst NULL skips the value), removing the quotes and each
 * backslash of a quoted-pair. Returns the length, or -1 when malformed:
 * an empty token, a control byte, no closing quote, or too long for dst.
 */
static int
auth_xmatrix_value(const char **pp, char *dst, size_t dstsz)
{
	const char *p = *pp;
	size_t n = 0;
	int quoted = (*p == '"');

	for (p += quoted;; p++) {
		unsigned char c = (unsigned char)*p;

		if (!quoted && !auth_xmatrix_unquoted((char)c))
			break;
		if (quoted && c == '"') {
			p++;
			break;
		}
		if (quoted && c == '\\')
			c = (unsigned char)*++p;
		/* NUL here means no closing quote; HTAB is the one control allowed. */
		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return -1;
		if (dst != NULL) {
			if (n + 1 >= dstsz)
				return -1;
			dst[n] = (char)c;
		}
		n++;
	}
	if (!quoted && n == 0)
		return -1;
	if (dst != NULL)
		dst[n] = '\0';
	*pp = p;
	return (int)n;
}

/* Index of the parameter name (nlen bytes, any case), or -1 if unknown. */
static int
auth_xmatrix_param(const char *name, size_t nlen)
{
	for (int i = 0; i < XM__MAX; i++)
		if (strlen(auth_xmatrix_params[i].name) == nlen &&
		    mr_skip_prefix_ci(name, auth_xmatrix_params[i].name) != NULL)
			return i;
	return -1;
}

/*
 * The auth-param list after "X-Matrix ": name BWS "=" BWS value, split by
 * commas with optional spaces or tabs. Empty list elements, and so a
 * trailing comma, are allowed as RFC 9110 5.6.1 asks of recipients.
 * Returns a bit per known parameter seen, or -1.
 */
static int
auth_xmatrix_list(const char *p, struct mr_xmatrix *out)
{
	unsigned seen = 0;

	for (;;) {
		const char *name;
		char *dst = NULL;
		size_t dstsz = 0;
		int which;

		while (auth_is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			return (int)seen;
		for (name = p; auth_is_tchar(*p); p++)
			;
		if (p == name)
			return -1;
		which = auth_xmatrix_param(name, (size_t)(p - name));
		while (auth_is_ows(*p))
			p++;
		if (*p != '=')
			return -1;
		for (p++; auth_is_ows(*p); p++)
			;
		if (which >= 0) {
			/* Two values for one name: we cannot know which was signed. */
			if (seen & (1u << which))
				return -1;
			seen |= 1u << which;
			dst = (char *)out + auth_xmatrix_params[which].off;
			dstsz = auth_xmatrix_params[which].size;
		}
		if (auth_xmatrix_value(&p, dst, dstsz) < 0)
			return -1;
		while (auth_is_ows(*p))
			p++;
		if (*p != ',' && *p != '\0')
			return -1;
	}
}

/* Unpadded base64, or padded: at most two '=' at the end. */
static int
auth_xmatrix_valid_sig(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/");

	return n > 0 && (strcmp(s + n, "") == 0 || strcmp(s + n, "=") == 0 ||
	    strcmp(s + n, "==") == 0);
}

/* Checks what was given; a reason for the message when something is wrong. */
static int
auth_xmatrix_check(const struct mr_xmatrix *x, unsigned seen, char *why,
    size_t whysz)
{
	const char *bad = NULL;

	for (int i = 0; i < XM__MAX; i++)
		if (i != XM_DESTINATION && !(seen & (1u << i))) {
			snprintf(why, whysz, "missing '%s'",
			    auth_xmatrix_params[i].name);
			return -1;
		}
	if (!mr_mxc_valid_server_name(x->origin))
		bad = "origin";
	/* Optional (spec v1.3), but when sent it must be a server name. */
	else if ((seen & (1u << XM_DESTINATION)) &&
	    !mr_mxc_valid_server_name(x->destination))
		bad = "destination";
	else if (!mr_keys_valid_key_id(x->key))
		bad = "key";
	else if (!auth_xmatrix_valid_sig(x->sig))
		bad = "sig";
	if (bad == NULL)
		return 0;
	snprintf(why, whysz, "invalid '%s'", bad);
	return -1;
}

int
mr_auth_parse_xmatrix(const char *header, struct mr_xmatrix *out,
    struct mr_err *err)
{
	const char *p = header;
	char why[32] = "bad syntax";
	int seen;

	memset(out, 0, sizeof(*out));
	while (p != NULL && auth_is_ows(*p))
		p++;
	/* "X-Matrixfoo" is another scheme, not a malformed X-Matrix. */
	if (p == NULL || (p = mr_skip_prefix_ci(p, "X-Matrix")) == NULL ||
	    (*p != '\0' && !auth_is_ows(*p)))
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "missing X-Matrix authorization");
	if (strnlen(header, MR_XMATRIX_HEADER_MAX + 1) > MR_XMATRIX_HEADER_MAX)
		snprintf(why, sizeof(why), "too long");
	else if ((seen = auth_xmatrix_list(p, out)) >= 0 &&
	    auth_xmatrix_check(out, (unsigned)seen, why, sizeof(why)) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	/* 400 with M_UNAUTHORIZED is what Synapse answers to a bad header. */
	return mr_err_set(err, 400, "M_UNAUTHORIZED",
	    "malformed X-Matrix authorization: %s", why);
}

/* A field we can put between quotes as is: printable, no '"' or '\'. */
static int
auth_xmatrix_quotable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n == size)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7E || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

int
mr_auth_format_xmatrix(const struct mr_xmatrix *x, char *out, size_t outsz)
{
	int n, has_dest = x->destination[0] != '\0';

	if (outsz > 0)
		out[0] = '\0';
	/* Senders must not escape (spec.md 4.2), so refuse what would need it. */
	if (!auth_xmatrix_quotable(x->origin, sizeof(x->origin)) ||
	    (has_dest && !auth_xmatrix_quotable(x->destination,
	    sizeof(x->destination))) ||
	    !auth_xmatrix_quotable(x->key, sizeof(x->key)) ||
	    !auth_xmatrix_quotable(x->sig, sizeof(x->sig)))
		return -1;
	n = snprintf(out, outsz, "X-Matrix origin=\"%s\"%s%s%s,key=\"%s\","
	    "sig=\"%s\"", x->origin, has_dest ? ",destination=\"" : "",
	    has_dest ? x->destination : "", has_dest ? "\"" : "", x->key,
	    x->sig);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

cJSON *
mr_auth_request_object(const char *method, const char *uri,
    const char *origin, const char *destination, const cJSON *content)
{
	cJSON *o, *c = NULL;

	if (method == NULL || uri == NULL || origin == NULL ||
	    destination == NULL || (o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "method", method) == NULL ||
	    cJSON_AddStringToObject(o, "uri", uri) == NULL ||
	    cJSON_AddStringToObject(o, "origin", origin) == NULL ||
	    cJSON_AddStringToObject(o, "destination", destination) == NULL)
		goto fail;
	/* "content" only with a body: an empty one would change the bytes. */
	if (content != NULL && ((c = cJSON_Duplicate(content, 1)) == NULL ||
	    !cJSON_AddItemToObject(o, "content", c)))
		goto fail;
	return o;
fail:
	cJSON_Delete(c);
	cJSON_Delete(o);
	return NULL;
}
