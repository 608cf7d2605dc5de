/*
 * auth_xmatrix: the X-Matrix header of server-to-server requests (see
 * auth_xmatrix.h).
 */
#include "auth_xmatrix.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mxc.h"

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

int
mr_auth_sign_xmatrix(const struct mr_signing_key *key, const char *origin,
    const char *destination, const char *method, const char *uri,
    const cJSON *content, char *out, size_t outsz, struct mr_err *err)
{
	struct mr_xmatrix x;
	cJSON *obj = mr_auth_request_object(method, uri, origin, destination,
	    content);
	int rc;

	if (obj == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	memset(&x, 0, sizeof(x));
	rc = mr_keys_sign_detached(obj, key, x.sig, err);
	cJSON_Delete(obj);
	if (rc < 0)
		return -1;
	snprintf(x.origin, sizeof(x.origin), "%s", origin);
	snprintf(x.destination, sizeof(x.destination), "%s", destination);
	snprintf(x.key, sizeof(x.key), "ed25519:%s", key->version);
	return mr_auth_format_xmatrix(&x, out, outsz) < 0 ?
	    mr_err_set(err, 500, "M_UNKNOWN", "header too long") : 0;
}

int
mr_auth_verify_xmatrix(const struct mr_xmatrix *x,
    const unsigned char pk[32], const char *destination, const char *method,
    const char *uri, const cJSON *content, struct mr_err *err)
{
	/* Rebuilt as received, with us as destination whatever it said. */
	cJSON *obj = mr_auth_request_object(method, uri, x->origin, destination,
	    content);
	int rc;

	if (obj == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	rc = mr_keys_verify_json(obj, pk, x->sig, err);
	cJSON_Delete(obj);
	if (rc < 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "invalid signature from '%s'", x->origin);
	return 0;
}
