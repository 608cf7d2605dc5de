/*
 * preview_url: parsing, blacklist rules and address checks for URL
 * previews (see preview_url.h).
 */
#include "preview_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* --- bytes, without <ctype.h>: its answers depend on the locale --- */

static int
pu_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
pu_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
pu_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
pu_is_alnum(int c)
{
	return pu_is_digit(c) || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* --- IPv4 in every spelling inet_aton takes --- */

/*
 * One part as strtoul(s, &end, 0) reads it after inet_aton has checked
 * that it starts with a digit. Values past 2^32 saturate (inet_aton
 * refuses them), so a long run of digits cannot overflow.
 */
static const char *
pu_ipv4_part(const char *s, uint64_t *out)
{
	const uint64_t cap = (uint64_t)1 << 32;
	unsigned base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
	    pu_hex_value((unsigned char)s[2]) >= 0) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	for (;; s++) {
		int d = pu_hex_value((unsigned char)*s);

		if (d < 0 || (unsigned)d >= base)
			break;
		v = v * base + (unsigned)d;
		if (v > cap)
			v = cap;
	}
	*out = v;
	return s;
}

int
mr_preview_parse_ipv4_any(const char *s, uint8_t out[4])
{
	/* What the last part may hold after 1, 2, 3 or 4 parts. */
	static const uint64_t last_max[4] = {
		0xffffffffu, 0xffffffu, 0xffffu, 0xffu };
	uint64_t part[4];
	unsigned n = 0;
	uint32_t v;

	memset(out, 0, 4);
	if (s == NULL)
		return -1;
	for (;;) {
		if (!pu_is_digit((unsigned char)*s) || n == 4)
			return -1;
		s = pu_ipv4_part(s, &part[n++]);
		if (*s != '.')
			break;
		if (part[n - 1] > 0xff)
			return -1;
		s++;
	}
	/* inet_aton stops at whitespace; getaddrinfo, like us, does not. */
	if (*s != '\0' || part[n - 1] > last_max[n - 1])
		return -1;
	v = (uint32_t)part[n - 1];
	for (unsigned i = 0; i + 1 < n; i++)
		v |= (uint32_t)part[i] << (24 - 8 * i);
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
	return 0;
}

/* --- the URL parser --- */

static int
pu_fail(struct mr_preview_url *out, struct mr_err *err, const char *why)
{
	memset(out, 0, sizeof(*out));
	return mr_err_set(err, 400, "M_INVALID_PARAM", "invalid url: %s", why);
}

static void
pu_map_v4(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

/* "[...]" contents: an IPv6 address, nothing else (no zone, no IPvFuture). */
static const char *
pu_host_v6(const char *h, size_t n, struct mr_preview_url *out)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(buf))
		return "bad ipv6 literal";
	for (size_t i = 0; i < n; i++)
		if (pu_hex_value((unsigned char)h[i]) < 0 && h[i] != ':' &&
		    h[i] != '.')
			return h[i] == '%' ? "ipv6 zone ids are not allowed" :
			    "bad ipv6 literal";
	memcpy(buf, h, n);
	buf[n] = '\0';
	/* inet_pton is locale-free and refuses octal in an embedded IPv4. */
	if (inet_pton(AF_INET6, buf, &a) != 1 ||
	    inet_ntop(AF_INET6, &a, out->host, sizeof(out->host)) == NULL)
		return "bad ipv6 literal";
	memcpy(out->ip, &a, 16);
	out->host_is_ip = 6;
	return NULL;
}

/* WHATWG's "ends in a number": the last label is digits or 0x and hex. */
static int
pu_ends_in_number(const char *host)
{
	const char *last = strrchr(host, '.');

	last = last != NULL ? last + 1 : host;
	if (last[0] == '0' && last[1] == 'x') {
		for (last += 2; *last != '\0'; last++)
			if (pu_hex_value((unsigned char)*last) < 0)
				return 0;
		return 1;
	}
	if (*last == '\0')
		return 0;
	for (; *last != '\0'; last++)
		if (!pu_is_digit((unsigned char)*last))
			return 0;
	return 1;
}

/* Labels of 1 to 63 bytes of [a-z0-9_-]; host already lower-cased. */
static int
pu_labels_ok(const char *host)
{
	size_t label = 0;

	for (const char *p = host;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63)
				return 0;
			if (*p == '\0')
				return 1;
			label = 0;
		} else if (pu_is_alnum((unsigned char)*p) || *p == '-' ||
		    *p == '_') {
			label++;
		} else {
			return 0;
		}
	}
}

static const char *
pu_host_name(const char *h, size_t n, struct mr_preview_url *out)
{
	uint8_t v4[4];

	if (n > 0 && h[n - 1] == '.')
		n--;	/* "a.example." is "a.example" to DNS: match it so */
	if (n == 0)
		return "host is missing";
	if (n > MR_PREVIEW_HOST_MAX)
		return "host is too long";
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '%')
			return "percent-encoding in the host is not allowed";
		if ((unsigned char)h[i] >= 0x80)
			return "non-ascii host: send its xn-- form";
		out->host[i] = (char)pu_lower((unsigned char)h[i]);
	}
	out->host[n] = '\0';
	if (!pu_labels_ok(out->host))
		return "bad host name";
	/*
	 * A numeric last label means the resolver would read the whole host
	 * as an IPv4 literal (getaddrinfo uses inet_aton), so it must be
	 * judged as one here; one that does not parse is refused rather than
	 * left to whatever some resolver makes of it.
	 */
	if (!pu_ends_in_number(out->host))
		return NULL;
	if (mr_preview_parse_ipv4_any(out->host, v4) < 0)
		return "bad ipv4 literal";
	snprintf(out->host, sizeof(out->host), "%u.%u.%u.%u", v4[0], v4[1],
	    v4[2], v4[3]);
	pu_map_v4(v4, out->ip);
	out->host_is_ip = 4;
	return NULL;
}

/* 1 to 5 digits, 1 to 65535; "" refused, though RFC 3986 allows it. */
static const char *
pu_port(const char *p, size_t n, struct mr_preview_url *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return "bad port";
	for (size_t i = 0; i < n; i++) {
		if (!pu_is_digit((unsigned char)p[i]))
			return "bad port";
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return "bad port";
	out->port = (uint16_t)v;
	out->port_explicit = 1;
	return NULL;
}

/* host[:port] or [v6][:port]; userinfo was refused by the caller. */
static const char *
pu_authority(const char *a, size_t n, struct mr_preview_url *out)
{
	const char *colon, *why;

	if (n == 0)
		return "host is missing";
	if (a[0] == '[') {
		const char *close = memchr(a, ']', n);
		size_t rest;

		if (close == NULL)
			return "bad ipv6 literal";
		if ((why = pu_host_v6(a + 1, (size_t)(close - a - 1), out)))
			return why;
		rest = n - (size_t)(close + 1 - a);
		if (rest == 0)
			return NULL;
		if (close[1] != ':')
			return "bad ipv6 literal";
		return pu_port(close + 2, rest - 1, out);
	}
	colon = memchr(a, ':', n);
	if (colon == NULL)
		return pu_host_name(a, n, out);
	if ((why = pu_host_name(a, (size_t)(colon - a), out)))
		return why;
	return pu_port(colon + 1, n - (size_t)(colon + 1 - a), out);
}

/* Control bytes, spaces and invalid UTF-8 anywhere; non-ASCII in the host. */
static const char *
pu_check_bytes(const char *url, size_t len, size_t authority_end)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c < 0x21 || c == 0x7f)
			return "spaces and control characters are not allowed";
		if (c >= 0x80 && i < authority_end)
			return "non-ascii host: send its xn-- form";
	}
	if (!mr_utf8_valid(url, len))
		return "invalid utf-8";
	return NULL;
}

static void
pu_path(const char *rest, struct mr_preview_url *out)
{
	size_t n = strcspn(rest, "#"), o = 0;

	/* "http://a?q" has an empty path; the request line needs "/?q". */
	if (n == 0 || rest[0] != '/')
		out->path_and_query[o++] = '/';
	memcpy(out->path_and_query + o, rest, n);
	out->path_and_query[o + n] = '\0';
}

int
mr_preview_parse_url(const char *url, struct mr_preview_url *out,
    struct mr_err *err)
{
	char fetched[MR_PREVIEW_URL_MAX + 1];
	const char *p, *why;
	size_t len, alen;

	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return pu_fail(out, err, "missing");
	/* Bounded before anything else reads it; also bounds path_and_query. */
	len = strnlen(url, MR_PREVIEW_URL_MAX + 1);
	if (len > MR_PREVIEW_URL_MAX)
		return pu_fail(out, err, "too long");
	if ((p = mr_skip_prefix_ci(url, "https://")) != NULL) {
		memcpy(out->scheme, "https", 6);
		out->port = 443;
	} else if ((p = mr_skip_prefix_ci(url, "http://")) != NULL) {
		memcpy(out->scheme, "http", 5);
		out->port = 80;
	} else {
		return pu_fail(out, err, "scheme must be http or https");
	}
	alen = strcspn(p, "/?#");
	if ((why = pu_check_bytes(url, len, (size_t)(p - url) + alen)))
		return pu_fail(out, err, why);
	/* "u:p@h" leaks a password upstream; "good.example@evil" misleads. */
	if (memchr(p, '@', alen) != NULL)
		return pu_fail(out, err, "userinfo is not allowed");
	/* WHATWG reads '\' as '/', so the host would differ between parsers. */
	if (memchr(p, '\\', alen) != NULL)
		return pu_fail(out, err, "backslash in the host");
	if ((why = pu_authority(p, alen, out)))
		return pu_fail(out, err, why);	/* zeroes partial fields */
	pu_path(p + alen, out);
	/*
	 * The limit holds for the URL as fetched too (canonical host, %XX for
	 * bytes >= 0x80): a redirect to it, or a recheck, then parses again.
	 */
	if (mr_preview_url_format(out, fetched, sizeof(fetched)) < 0)
		return pu_fail(out, err, "too long");
	return 0;
}

int
mr_preview_url_format(const struct mr_preview_url *u, char *out,
    size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	char port[8] = "";
	int v6 = u->host_is_ip == 6, n;
	size_t o;

	if (u->port_explicit)
		snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
	n = snprintf(out, outsz, "%s://%s%s%s%s", u->scheme, v6 ? "[" : "",
	    u->host, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	o = (size_t)n;
	for (const char *p = u->path_and_query; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (o + (c >= 0x80 ? 3 : 1) >= outsz)
			return -1;
		if (c >= 0x80) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* --- url_preview_url_blacklist --- */

int
mr_preview_glob_match(const char *glob, const char *s, int nocase)
{
	const char *star = NULL, *resume = NULL;

	/*
	 * Classic single-backtrack matching: on a mismatch, let the last '*'
	 * swallow one more byte. An earlier '*' never needs revisiting, so
	 * the work is bounded by strlen(glob) * strlen(s).
	 */
	while (*s != '\0') {
		if (*glob == '*') {
			star = glob++;
			resume = s;
		} else if (*glob != '\0' && (*glob == '?' || *glob == *s ||
		    (nocase && pu_lower((unsigned char)*glob) ==
		    pu_lower((unsigned char)*s)))) {
			glob++;
			s++;
		} else if (star != NULL) {
			glob = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}

size_t
mr_preview_url_rules_size(void)
{
	return sizeof(struct mr_preview_url_rules);
}

/* One "key=value" condition of n bytes into r. */
static int
pu_rule_cond(const char *t, size_t n, struct mr_preview_url_rule *r)
{
	static const struct {
		const char *key;
		unsigned bit;
		size_t off;
	} keys[] = {
		{ "scheme=", MR_PREVIEW_RULE_SCHEME,
		    offsetof(struct mr_preview_url_rule, scheme) },
		{ "host=", MR_PREVIEW_RULE_HOST,
		    offsetof(struct mr_preview_url_rule, host) },
		{ "path=", MR_PREVIEW_RULE_PATH,
		    offsetof(struct mr_preview_url_rule, path) },
		{ "port=", MR_PREVIEW_RULE_PORT, 0 },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t kl = strlen(keys[i].key);
		char *dst = (char *)r + keys[i].off, num[8];
		int64_t port;

		if (n < kl || memcmp(t, keys[i].key, kl) != 0)
			continue;
		t += kl;
		n -= kl;
		if (n == 0 || n >= MR_PREVIEW_GLOB_MAX || (r->has & keys[i].bit))
			return -1;
		for (size_t j = 0; j < n; j++)
			if ((unsigned char)t[j] < 0x21 ||
			    (unsigned char)t[j] >= 0x7f)
				return -1;
		r->has |= keys[i].bit;
		if (keys[i].bit != MR_PREVIEW_RULE_PORT) {
			memcpy(dst, t, n);
			dst[n] = '\0';
			return 0;
		}
		if (n >= sizeof(num))
			return -1;
		memcpy(num, t, n);
		num[n] = '\0';
		if (mr_parse_int64(num, 1, 65535, &port) < 0)
			return -1;
		r->port = (uint16_t)port;
		return 0;
	}
	return -1;
}

/* One rule: the n bytes between commas. An empty one is skipped. */
static int
pu_rule(const char *t, size_t n, struct mr_preview_url_rules *out)
{
	struct mr_preview_url_rule r;
	size_t i = 0;

	memset(&r, 0, sizeof(r));
	while (i < n) {
		size_t len = 0;

		while (i < n && (t[i] == ' ' || t[i] == '\t'))
			i++;
		while (i + len < n && t[i + len] != ' ' && t[i + len] != '\t')
			len++;
		if (len > 0 && pu_rule_cond(t + i, len, &r) < 0)
			return -1;
		i += len;
	}
	if (r.has == 0)
		return 0;	/* a rule with no condition would match all */
	if (out->n >= MR_PREVIEW_RULES_MAX)
		return -1;
	out->r[out->n++] = r;
	return 0;
}

int
mr_preview_parse_url_rules(const char *text, struct mr_preview_url_rules *out)
{
	memset(out, 0, sizeof(*out));
	while (text != NULL && *text != '\0') {
		size_t n = strcspn(text, ",");

		if (pu_rule(text, n, out) < 0) {
			memset(out, 0, sizeof(*out));
			return -1;
		}
		text += n;
		if (*text == ',')
			text++;
	}
	return 0;
}

static int
pu_unreserved(int c)
{
	return pu_is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * The path (no query) as the server will read it: %-escapes of unreserved
 * characters decoded (RFC 3986 6.2.2.2), then dot segments removed
 * (5.2.4), so an escape or a "/x/../" cannot slip past a path rule.
 */
static void
pu_rule_path(const char *pq, char *out, size_t outsz)
{
	char in[sizeof(((struct mr_preview_url *)0)->path_and_query) + 2];
	size_t n = strcspn(pq, "?"), k = 0, o = 0;
	char *p;

	for (size_t i = 0; i < n && k + 3 < sizeof(in); i++) {
		int hi = i + 2 < n ? pu_hex_value((unsigned char)pq[i + 1]) : -1;
		int lo = hi >= 0 ? pu_hex_value((unsigned char)pq[i + 2]) : -1;

		if (pq[i] == '%' && lo >= 0 && pu_unreserved(hi * 16 + lo)) {
			in[k++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			in[k++] = pq[i];
		}
	}
	in[k] = in[k + 1] = '\0';
	for (p = in; *p != '\0' && o + 1 < outsz;) {
		if (strncmp(p, "../", 3) == 0) {
			p += 3;
		} else if (strncmp(p, "./", 2) == 0 || strncmp(p, "/./", 3) == 0) {
			p += 2;
		} else if (strcmp(p, "/.") == 0) {
			p[1] = '/';	/* becomes "/" */
			p++;
		} else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
			if (p[3] == '/')
				p += 3;
			else
				*(p += 2) = '/';	/* "/.." becomes "/" */
			while (o > 0 && out[--o] != '/')
				;
		} else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
			break;
		} else {
			do
				out[o++] = *p++;
			while (*p != '\0' && *p != '/' && o + 1 < outsz);
		}
	}
	out[o] = '\0';
}

static int
pu_rule_match(const struct mr_preview_url_rule *r,
    const struct mr_preview_url *u, const char *path)
{
	if ((r->has & MR_PREVIEW_RULE_SCHEME) &&
	    !mr_preview_glob_match(r->scheme, u->scheme, 1))
		return 0;
	if ((r->has & MR_PREVIEW_RULE_HOST) &&
	    !mr_preview_glob_match(r->host, u->host, 1))
		return 0;
	if ((r->has & MR_PREVIEW_RULE_PORT) && r->port != u->port)
		return 0;
	if ((r->has & MR_PREVIEW_RULE_PATH) &&
	    !mr_preview_glob_match(r->path, path, 0))
		return 0;
	return 1;
}

int
mr_preview_url_blocked(const struct mr_preview_url *u,
    const struct mr_preview_url_rules *rules)
{
	char path[sizeof(u->path_and_query)];

	if (rules == NULL || rules->n == 0)
		return 0;
	pu_rule_path(u->path_and_query, path, sizeof(path));
	for (unsigned i = 0; i < rules->n && i < MR_PREVIEW_RULES_MAX; i++)
		if (pu_rule_match(&rules->r[i], u, path))
			return 1;
	return 0;
}

/* --- addresses --- */

static int
pu_v4_allowed(const uint8_t v4[4], const struct mr_net_list *deny,
    const struct mr_net_list *allow)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	memcpy(&sin.sin_addr, v4, 4);
	return mr_net_allowed((const struct sockaddr *)&sin, deny, allow);
}

int
mr_preview_addr_allowed(const struct sockaddr *sa,
    const struct mr_net_list *deny, const struct mr_net_list *allow)
{
	static const uint8_t v4compat[12];
	static const uint8_t nat64_local[6] = { 0, 0x64, 0xff, 0x9b, 0, 1 };
	struct sockaddr_in6 sin6;
	const uint8_t *a;

	if (sa == NULL || !mr_net_allowed(sa, deny, allow))
		return 0;
	if (sa->sa_family != AF_INET6)
		return 1;
	/* Copied: sa need not be aligned for sockaddr_in6. */
	memcpy(&sin6, sa, sizeof(sin6));
	a = sin6.sin6_addr.s6_addr;
	if (mr_net_in_list(a, allow))
		return 1;	/* listed by the operator: trust it as is */
	if (memcmp(a, v4compat, 12) == 0)
		return pu_v4_allowed(a + 12, deny, allow);
	if (a[0] == 0x20 && a[1] == 0x02)
		return pu_v4_allowed(a + 2, deny, allow);
	if (memcmp(a, nat64_local, 6) == 0)
		return 0;
	return 1;
}

int
mr_preview_ip_allowed(const uint8_t ip[16], const struct mr_net_list *deny,
    const struct mr_net_list *allow)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	memcpy(&sin6.sin6_addr, ip, 16);
	return mr_preview_addr_allowed((const struct sockaddr *)&sin6, deny,
	    allow);
}
