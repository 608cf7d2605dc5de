/*
 * preview_resolve: URL references found in a page (see preview_resolve.h).
 */
#include "preview_resolve.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "preview_bytes.h"

/* --- RFC 3986 reference resolution --- */

struct ph_uri {
	const char *scheme;
	size_t scheme_len;
	const char *auth;
	size_t auth_len;
	int has_auth;
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	int has_query;
};

/* RFC 3986 appendix B, by hand; the fragment is ignored. */
static void
ph_uri_split(const char *s, size_t n, struct ph_uri *u)
{
	size_t i = 0, k;

	memset(u, 0, sizeof(*u));
	if (n > 0 && ph_is_alpha((unsigned char)s[0])) {
		for (k = 1; k < n && (ph_is_alpha((unsigned char)s[k]) ||
		    ph_is_digit((unsigned char)s[k]) || s[k] == '+' ||
		    s[k] == '-' || s[k] == '.'); k++)
			;
		if (k < n && s[k] == ':') {
			u->scheme = s;
			u->scheme_len = k;
			i = k + 1;
		}
	}
	if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
		i += 2;
		u->auth = s + i;
		u->has_auth = 1;
		while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		u->auth_len = (size_t)(s + i - u->auth);
	}
	u->path = s + i;
	while (i < n && s[i] != '?' && s[i] != '#')
		i++;
	u->path_len = (size_t)(s + i - u->path);
	if (i < n && s[i] == '?') {
		u->query = s + ++i;
		u->has_query = 1;
		while (i < n && s[i] != '#')
			i++;
		u->query_len = (size_t)(s + i - u->query);
	}
}

static int
ph_starts(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && memcmp(s, lit, k) == 0;
}

static int
ph_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* RFC 3986 5.2.4 from in[0, n) into out (at most n bytes); its length. */
static size_t
ph_remove_dots(const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		const char *s = in + i;
		size_t r = n - i;

		if (ph_starts(s, r, "../")) {
			i += 3;
		} else if (ph_starts(s, r, "./") || ph_starts(s, r, "/./")) {
			i += 2;
		} else if (ph_is(s, r, "/.")) {
			out[o++] = '/';
			i = n;
		} else if (ph_starts(s, r, "/../") || ph_is(s, r, "/..")) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			if (r == 3)
				out[o++] = '/';
			i += 3;
		} else if (ph_is(s, r, ".") || ph_is(s, r, "..")) {
			i = n;
		} else {
			do
				out[o++] = in[i++];
			while (i < n && in[i] != '/');
		}
	}
	return o;
}

/* The target's parts (RFC 3986 5.2.2); path points into work. */
struct ph_target {
	const char *scheme;
	size_t scheme_len;
	const char *auth;
	size_t auth_len;
	int has_auth;
	char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	int has_query;
};

/* RFC 3986 5.2.3 merge, then dot removal, into t->path. */
static void
ph_merge(const struct ph_uri *b, const struct ph_uri *r, char *tmp,
    struct ph_target *t)
{
	size_t k = 0;

	if (b->has_auth && b->path_len == 0) {
		tmp[k++] = '/';
	} else {
		const char *slash = NULL;

		for (size_t i = 0; i < b->path_len; i++)
			if (b->path[i] == '/')
				slash = b->path + i;
		if (slash != NULL) {
			k = (size_t)(slash - b->path) + 1;
			memcpy(tmp, b->path, k);
		}
	}
	memcpy(tmp + k, r->path, r->path_len);
	t->path_len = ph_remove_dots(tmp, k + r->path_len, t->path);
}

static void
ph_transform(const struct ph_uri *b, const struct ph_uri *r, char *tmp,
    struct ph_target *t)
{
	const struct ph_uri *src = r;

	memset(t, 0, sizeof(*t));
	t->path = tmp + b->path_len + r->path_len + 2;
	if (r->scheme == NULL) {
		t->scheme = b->scheme;
		t->scheme_len = b->scheme_len;
		if (!r->has_auth) {
			src = b;
			if (r->path_len == 0) {
				memcpy(t->path, b->path, b->path_len);
				t->path_len = b->path_len;
				if (r->has_query)
					src = r;
			} else if (r->path[0] == '/') {
				t->path_len = ph_remove_dots(r->path,
				    r->path_len, t->path);
				src = r;
			} else {
				ph_merge(b, r, tmp, t);
				src = r;
			}
			t->auth = b->auth;
			t->auth_len = b->auth_len;
			t->has_auth = b->has_auth;
			t->query = src->query;
			t->query_len = src->query_len;
			t->has_query = src->has_query;
			return;
		}
	} else {
		t->scheme = r->scheme;
		t->scheme_len = r->scheme_len;
	}
	t->auth = r->auth;
	t->auth_len = r->auth_len;
	t->has_auth = r->has_auth;
	t->path_len = ph_remove_dots(r->path, r->path_len, t->path);
	t->query = r->query;
	t->query_len = r->query_len;
	t->has_query = r->has_query;
}

/* Host and port as URI characters (RFC 3986 3.2), userinfo allowed. */
static int
ph_auth_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!ph_is_alpha(c) && !ph_is_digit(c) &&
		    strchr("-._~!$&'()*+,;=:@[]%", c) == NULL)
			return 0;
	}
	return 1;
}

/* Appends s[0, n), percent-encoding what may not stand in a URL. */
static int
ph_emit(char *out, size_t outsz, size_t *o, const char *s, size_t n,
    int encode)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (encode && (c <= 0x20 || c >= 0x7F ||
		    strchr("\"<>\\^`{|}", c) != NULL)) {
			if (outsz - *o <= 3)
				return -1;
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		} else {
			if (outsz - *o <= 1)
				return -1;
			out[(*o)++] = (char)(encode ? c : ph_lower(c));
		}
	}
	out[*o] = '\0';
	return 0;
}

static int
ph_target_write(const struct ph_target *t, char *out, size_t outsz)
{
	size_t o = 0;

	if (!(t->scheme_len == 4 && strncasecmp(t->scheme, "http", 4) == 0) &&
	    !(t->scheme_len == 5 && strncasecmp(t->scheme, "https", 5) == 0))
		return -1;
	if (!t->has_auth || !ph_auth_ok(t->auth, t->auth_len))
		return -1;
	if (ph_emit(out, outsz, &o, t->scheme, t->scheme_len, 0) < 0 ||
	    ph_emit(out, outsz, &o, "://", 3, 0) < 0 ||
	    outsz - o <= t->auth_len)
		return -1;
	memcpy(out + o, t->auth, t->auth_len);
	o += t->auth_len;
	if (ph_emit(out, outsz, &o, t->path, t->path_len, 1) < 0)
		return -1;
	if (t->has_query && (ph_emit(out, outsz, &o, "?", 1, 1) < 0 ||
	    ph_emit(out, outsz, &o, t->query, t->query_len, 1) < 0))
		return -1;
	return 0;
}

int
mr_preview_resolve_url(const char *base, const char *ref, char *out,
    size_t outsz)
{
	struct ph_uri b, r;
	struct ph_target t;
	size_t rn, s = 0;
	char *tmp;
	int rc;

	if (ref == NULL || out == NULL || outsz == 0)
		return -1;
	out[0] = '\0';
	rn = strlen(ref);
	while (s < rn && (unsigned char)ref[s] <= 0x20)
		s++;
	while (rn > s && (unsigned char)ref[rn - 1] <= 0x20)
		rn--;
	ph_uri_split(ref + s, rn - s, &r);
	if (r.scheme == NULL) {
		if (base == NULL)
			return -1;
		ph_uri_split(base, strlen(base), &b);
		/* A relative base resolves nothing. */
		if (b.scheme == NULL)
			return -1;
	} else {
		memset(&b, 0, sizeof(b));
	}
	/* Merge and dot removal never lengthen: two path-sized halves. */
	if ((tmp = malloc(2 * (b.path_len + r.path_len + 2))) == NULL)
		return -1;
	ph_transform(&b, &r, tmp, &t);
	rc = ph_target_write(&t, out, outsz);
	free(tmp);
	if (rc < 0)
		out[0] = '\0';
	return rc;
}

/* --- data: URLs --- */

static int
ph_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (ph_is_digit(c))
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * WHATWG forgiving-base64 over s[0, n): whitespace skipped, "=" padding
 * optional but only at the end. With out NULL it only measures. Returns
 * the decoded length or -1.
 */
static long long
ph_b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t chars = 0, pad = 0;
	unsigned long acc = 0;
	long long o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (ph_is_space(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = ph_b64val(c)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		if (++chars % 4 == 0) {
			if (out != NULL) {
				out[o] = (unsigned char)(acc >> 16);
				out[o + 1] = (unsigned char)(acc >> 8);
				out[o + 2] = (unsigned char)acc;
			}
			o += 3;
			acc = 0;
		}
	}
	if (pad > 2 || chars % 4 == 1 || (pad > 0 && (chars + pad) % 4 != 0))
		return -1;
	if (chars % 4 == 2) {
		if (out != NULL)
			out[o] = (unsigned char)(acc >> 4);
		o += 1;
	} else if (chars % 4 == 3) {
		if (out != NULL) {
			out[o] = (unsigned char)(acc >> 10);
			out[o + 1] = (unsigned char)(acc >> 2);
		}
		o += 2;
	}
	return o;
}

/* Percent-decoding; a "%" without two hex digits is malformed. */
static long long
ph_pct_decode(const char *s, size_t n, unsigned char *out)
{
	long long o = 0;

	for (size_t i = 0; i < n; i++, o++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = ph_hexval((unsigned char)s[i +
			    1])) < 0 || (lo = ph_hexval((unsigned char)s[i +
			    2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (out != NULL)
			out[o] = c;
	}
	return o;
}

/* RFC 7230 tchar: what a media type's type and subtype are made of. */
static int
ph_is_tchar(unsigned char c)
{
	return ph_is_alpha(c) || ph_is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The "type/subtype" before the first ';' of meta, lower-cased. */
static int
ph_data_mediatype(const char *m, size_t n, char *out, size_t outsz)
{
	size_t s = 0, e = 0, k = 0, slash = 0;

	while (e < n && m[e] != ';')
		e++;
	while (s < e && ph_is_space((unsigned char)m[s]))
		s++;
	while (e > s && ph_is_space((unsigned char)m[e - 1]))
		e--;
	if (s == e) {
		m = "text/plain";
		s = 0;
		e = strlen(m);
	}
	if (e - s >= outsz)
		return -1;
	for (; s < e; s++) {
		unsigned char c = (unsigned char)m[s];

		if (c == '/' && slash == 0 && k > 0)
			slash = k;
		else if (!ph_is_tchar(c))
			return -1;
		out[k++] = (char)ph_lower(c);
	}
	out[k] = '\0';
	return slash > 0 && slash + 1 < k ? 0 : -1;
}

/* Whether the last ';' parameter of meta is "base64". */
static int
ph_data_is_b64(const char *m, size_t n)
{
	size_t e = n, s;

	while (e > 0 && ph_is_space((unsigned char)m[e - 1]))
		e--;
	s = e;
	while (s > 0 && m[s - 1] != ';')
		s--;
	if (s == 0)
		return 0;
	while (s < e && ph_is_space((unsigned char)m[s]))
		s++;
	return e - s == 6 && strncasecmp(m + s, "base64", 6) == 0;
}

int
mr_preview_decode_data_url(const char *url, size_t max,
    unsigned char **out, size_t *outlen, char *media_type, size_t mtsz,
    struct mr_err *err)
{
	const char *meta, *comma;
	long long n;
	int b64;

	*out = NULL;
	*outlen = 0;
	if (url == NULL || (meta = mr_skip_prefix_ci(url, "data:")) == NULL ||
	    (comma = strchr(meta, ',')) == NULL ||
	    ph_data_mediatype(meta, (size_t)(comma - meta), media_type,
	    mtsz) < 0)
		return mr_err_set(err, 502, "M_UNKNOWN", "malformed data url");
	b64 = ph_data_is_b64(meta, (size_t)(comma - meta));
	comma++;
	/* Measure first, so an oversized payload costs no allocation. */
	n = b64 ? ph_b64_decode(comma, strlen(comma), NULL) :
	    ph_pct_decode(comma, strlen(comma), NULL);
	if (n < 0)
		return mr_err_set(err, 502, "M_UNKNOWN", "malformed data url");
	if ((unsigned long long)n > max)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "data url too large");
	if ((*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (b64)
		ph_b64_decode(comma, strlen(comma), *out);
	else
		ph_pct_decode(comma, strlen(comma), *out);
	*outlen = (size_t)n;
	return 0;
}
