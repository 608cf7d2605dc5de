/*
 * mxc: server-name and media-id allow-lists (spec.md 2.2, appendix "Server
 * Name"). Checked by allow-list, never by looking for "..", so percent and
 * UTF-8 tricks cannot slip through.
 */
#include "mxc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", the longest RFC 5952 text. */
#define MXC_IPV6_TEXT_MAX 39

/*
 * 1*5DIGIT up to 65535 without leading zeros: "8448" and "08448" reach the
 * same port, and two spellings of one server would slip past a block list.
 */
static int
mxc_valid_port(const char *p)
{
	size_t n = strlen(p);
	long v = 0;

	if (n < 1 || n > 5 || (p[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	return v <= 65535;
}

/* Four decimal octets 0-255, each without leading zeros. */
static int
mxc_canonical_ipv4(const char *s, size_t len)
{
	int octets = 0;
	size_t i = 0;

	while (i < len) {
		size_t start = i;
		int v = 0;

		while (i < len && isdigit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return 0;
		if (++octets == 4)
			return i == len;
		if (i == len || s[i] != '.')
			return 0;
		i++;
	}
	return 0;
}

/*
 * WHATWG URL's "ends in a number": the last label is all digits, or "0x"
 * and hex digits. Resolvers (inet_aton, curl) read such a host as an IPv4
 * address however it is written: "127.1", "2130706433", "0x7f.0.0.1",
 * "0177.0.0.1" all reach 127.0.0.1.
 */
static int
mxc_ends_in_number(const char *s, size_t len)
{
	size_t start = len;

	while (start > 0 && s[start - 1] != '.')
		start--;
	s += start;
	len -= start;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (size_t i = 2; i < len; i++)
			if (!isxdigit((unsigned char)s[i]))
				return 0;
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return len > 0;
}

/*
 * RFC 5952 text of an address: lower-case hex without leading zeros, the
 * longest run of two or more zero groups (the first of equals) as "::".
 */
static void
mxc_ipv6_text(const unsigned char a[16], char out[MXC_IPV6_TEXT_MAX + 1])
{
	int best = -1, best_len = 1, pos = 0;

	for (int i = 0; i < 8; i++) {
		int n = 0;

		while (i + n < 8 && a[2 * (i + n)] == 0 && a[2 * (i + n) + 1] == 0)
			n++;
		if (n > best_len) {
			best = i;
			best_len = n;
		}
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			pos += snprintf(out + pos, MXC_IPV6_TEXT_MAX + 1 - pos, "::");
			i += best_len - 1;
			continue;
		}
		pos += snprintf(out + pos, MXC_IPV6_TEXT_MAX + 1 - pos, "%s%x",
		    pos > 0 && out[pos - 1] != ':' ? ":" : "",
		    (unsigned)(a[2 * i] << 8 | a[2 * i + 1]));
	}
}

/*
 * An IPv6 literal (between the brackets) in its one RFC 5952 spelling,
 * and not IPv4-mapped (::ffff:0:0/96): "[::ffff:127.0.0.1]" and
 * "[::ffff:7f00:1]" connect to 127.0.0.1 and would pass a block list
 * naming "127.0.0.1". Upper case, leading zeros, an uncompressed run and
 * a dotted tail are other spellings of a canonical address: refused
 * rather than rewritten, because the name is also the key of stored
 * media and keys.
 */
static int
mxc_canonical_ipv6(const char *s, size_t len)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	char in[MXC_IPV6_TEXT_MAX + 1], text[MXC_IPV6_TEXT_MAX + 1];
	unsigned char a[16];

	if (len < 2 || len > MXC_IPV6_TEXT_MAX)
		return 0;
	memcpy(in, s, len);
	in[len] = '\0';
	if (inet_pton(AF_INET6, in, a) != 1 || memcmp(a, mapped, 12) == 0)
		return 0;
	mxc_ipv6_text(a, text);
	return strcmp(in, text) == 0;
}

/*
 * dns-name of spec.md 2.2, in labels: no empty label, so no trailing dot,
 * which would be one more spelling of the same host for DNS.
 */
static int
mxc_valid_dns_name(const char *s, size_t len)
{
	if (len < 1 || len > 255 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return 0;
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

int
mr_mxc_valid_server_name(const char *s)
{
	size_t len;
	const char *colon;

	if (s == NULL || (len = strlen(s)) == 0 || len > MR_SERVER_NAME_MAX)
		return 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL ||
		    !mxc_canonical_ipv6(s + 1, (size_t)(close - s - 1)))
			return 0;
		if (close[1] == '\0')
			return 1;
		return close[1] == ':' && mxc_valid_port(close + 2);
	}
	colon = strchr(s, ':');
	if (colon != NULL) {
		if (!mxc_valid_port(colon + 1))
			return 0;
		len = (size_t)(colon - s);
	}
	if (!mxc_valid_dns_name(s, len))
		return 0;
	/* Looks like an address: then it must be the one spelling of one. */
	return !mxc_ends_in_number(s, len) || mxc_canonical_ipv4(s, len);
}

int
mr_mxc_same_server(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	/*
	 * Valid names differ in spelling only by the case of DNS letters:
	 * IPv6 hex must be lower case and a port is digits, so folding the
	 * whole name compares the host without case and the port exactly.
	 * ASCII by hand: strncasecmp would follow the locale.
	 */
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

int
mr_mxc_valid_media_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++) {
		if (n >= MR_MEDIA_ID_MAX)
			return 0;
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return 0;
	}
	return n > 0;
}

int
mr_mxc_from_parts(const char *server, const char *id, struct mr_mxc *out,
    struct mr_err *err)
{
	if (!mr_mxc_valid_server_name(server))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid server name");
	if (!mr_mxc_valid_media_id(id))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid media id");
	snprintf(out->server, sizeof(out->server), "%s", server);
	snprintf(out->id, sizeof(out->id), "%s", id);
	return 0;
}

int
mr_mxc_parse_uri(const char *uri, struct mr_mxc *out, struct mr_err *err)
{
	char server[MR_SERVER_NAME_MAX + 1];
	const char *rest, *slash;
	size_t slen;

	if (strncmp(uri, "mxc://", 6) != 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "not an mxc uri");
	rest = uri + 6;
	slash = strchr(rest, '/');
	if (slash == NULL || (slen = (size_t)(slash - rest)) > MR_SERVER_NAME_MAX)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid mxc uri");
	memcpy(server, rest, slen);
	server[slen] = '\0';
	return mr_mxc_from_parts(server, slash + 1, out, err);
}

void
mr_mxc_generate(const char *server, struct mr_mxc *out)
{
	snprintf(out->server, sizeof(out->server), "%s", server);
	mr_random_id(out->id, MR_MEDIA_ID_LEN);
}

int
mr_mxc_format(const struct mr_mxc *m, char *buf, size_t bufsz)
{
	int n = snprintf(buf, bufsz, "mxc://%s/%s", m->server, m->id);

	return (n < 0 || (size_t)n >= bufsz) ? -1 : 0;
}

int
mr_mxc_valid_user_id(const char *s)
{
	const char *colon;

	if (s == NULL || s[0] != '@' || strlen(s) > 255)
		return 0;
	if ((colon = strchr(s, ':')) == NULL || colon == s + 1)
		return 0;
	for (const char *p = s + 1; p < colon; p++)
		if (*p < 0x21 || *p > 0x7E)
			return 0;
	return mr_mxc_valid_server_name(colon + 1);
}
