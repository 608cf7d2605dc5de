/*
 * mxc: server-name and media-id allow-lists (spec.md 2.2, appendix "Server
 * Name"). Checked by allow-list, never by looking for "..", so percent and
 * UTF-8 tricks cannot slip through.
 */
#include "mxc.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int
mxc_valid_port(const char *p)
{
	size_t n = strlen(p);
	long v = 0;

	if (n < 1 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	return v <= 65535;
}

/* IPv4address = 1*3DIGIT "." x4, each octet 0-255. */
static int
mxc_valid_ipv4(const char *s, size_t len)
{
	int octets = 0;
	size_t i = 0;

	while (i < len) {
		int digits = 0, v = 0;

		/* A fourth digit is refused below: v never overflows. */
		while (i < len && isdigit((unsigned char)s[i]) && digits < 4) {
			v = v * 10 + (s[i] - '0');
			digits++;
			i++;
		}
		if (digits < 1 || digits > 3 || v > 255)
			return 0;
		octets++;
		if (i == len)
			break;
		if (s[i] != '.' || octets == 4)
			return 0;
		i++;
		if (i == len)
			return 0;
	}
	return octets == 4;
}

/*
 * RFC 3513 text form: up to eight hex groups, at most one "::", and an
 * optional dotted IPv4 tail taking two groups.
 */
static int
mxc_valid_ipv6(const char *s, size_t len)
{
	int groups = 0, double_colon = 0;
	size_t i = 0;

	if (len < 2 || len > 45)
		return 0;
	if (s[0] == ':') {
		if (s[1] != ':')
			return 0;
		double_colon = 1;
		i = 2;
		if (i == len)
			return 1;
	}
	while (i < len) {
		size_t start = i;
		int hex = 0;

		while (i < len && isxdigit((unsigned char)s[i]) && hex < 5) {
			i++;
			hex++;
		}
		if (i < len && s[i] == '.') {
			/* IPv4 tail: must run to the end and counts as two groups. */
			if (!mxc_valid_ipv4(s + start, len - start))
				return 0;
			groups += 2;
			i = len;
			break;
		}
		if (hex < 1 || hex > 4)
			return 0;
		groups++;
		if (i == len)
			break;
		if (s[i] != ':')
			return 0;
		i++;
		if (i < len && s[i] == ':') {
			if (double_colon)
				return 0;
			double_colon = 1;
			i++;
			if (i == len)
				break;
		} else if (i == len) {
			return 0;
		}
	}
	return double_colon ? groups <= 7 : groups == 8;
}

static int
mxc_valid_dns_name(const char *s, size_t len)
{
	if (len < 1 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return 0;
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

		if (close == NULL || !mxc_valid_ipv6(s + 1, (size_t)(close - s - 1)))
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
	/* A dotted quad is an IPv4 literal; other digit strings are dns-names. */
	return mxc_valid_dns_name(s, len) || mxc_valid_ipv4(s, len);
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
