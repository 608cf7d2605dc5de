/*
 * fuzz_preview_url: libFuzzer target for mr_preview_parse_url, which reads
 * the ?url= of every preview request. Besides memory errors it checks the
 * contract: a failure is 400 M_INVALID_PARAM with the result zeroed; a
 * success holds a lower-case host that is an IP literal exactly when the
 * address fields say so, and formats into a URL that parses back to the
 * same host, port and address (what is fetched is what was checked). It
 * also runs the IPv4 parser against inet_aton, the glob matcher against a
 * plain dynamic-programming matcher, and the rule parser on the same bytes.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -o fuzz_preview_url tests/fuzz/fuzz_preview_url.c \
 *     common/preview_url.c common/net.c common/util.c -lsodium
 * ./fuzz_preview_url CORPUS_DIR
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../../common/preview_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_failure(const struct mr_preview_url *u, const struct mr_err *err)
{
	static const struct mr_preview_url zero;

	if (err->status != 400 || err->errcode == NULL ||
	    strcmp(err->errcode, "M_INVALID_PARAM") != 0 ||
	    memcmp(u, &zero, sizeof(zero)) != 0)
		abort();
}

static void
check_host(const struct mr_preview_url *u)
{
	uint8_t v4[4], v6[16];

	if (u->host[0] == '\0' || strlen(u->host) > MR_PREVIEW_HOST_MAX)
		abort();
	for (const char *p = u->host; *p != '\0'; p++)
		if ((*p >= 'A' && *p <= 'Z') || (unsigned char)*p < 0x21 ||
		    (unsigned char)*p >= 0x7f || strchr("%@/\\?#[]", *p))
			abort();
	if (u->host_is_ip == 4) {
		if (mr_preview_parse_ipv4_any(u->host, v4) != 0 ||
		    memcmp(u->ip + 12, v4, 4) != 0 || u->ip[10] != 0xff ||
		    u->ip[11] != 0xff)
			abort();
	} else if (u->host_is_ip == 6) {
		if (inet_pton(AF_INET6, u->host, v6) != 1 ||
		    memcmp(u->ip, v6, 16) != 0)
			abort();
	} else if (u->host_is_ip != 0 || strchr(u->host, ':') != NULL ||
	    mr_preview_parse_ipv4_any(u->host, v4) == 0) {
		abort();	/* a name that the resolver reads as a literal */
	}
}

static void
check_success(const struct mr_preview_url *u)
{
	static const uint8_t zero[16];
	char out[MR_PREVIEW_URL_MAX + 1];
	struct mr_preview_url v;
	struct mr_err err;

	if ((strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
	    || u->port == 0 || u->username_present != 0 ||
	    u->path_and_query[0] != '/' || strchr(u->path_and_query, '#') ||
	    (!u->port_explicit && u->port != (u->scheme[4] ? 443 : 80)))
		abort();
	for (const char *p = u->path_and_query; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			abort();
	check_host(u);
	if (!u->host_is_ip && memcmp(u->ip, zero, 16) != 0)
		abort();
	if (mr_preview_url_format(u, out, sizeof(out)) < 0 ||
	    mr_preview_parse_url(out, &v, &err) != 0 ||
	    strcmp(u->scheme, v.scheme) != 0 || strcmp(u->host, v.host) != 0 ||
	    u->port != v.port || u->port_explicit != v.port_explicit ||
	    u->host_is_ip != v.host_is_ip || memcmp(u->ip, v.ip, 16) != 0)
		abort();
	if (u->host_is_ip)
		(void)mr_preview_ip_allowed(u->ip, NULL, NULL);
}

/* inet_aton differs only by stopping at whitespace; skip such inputs. */
static void
check_ipv4(const char *s)
{
	struct in_addr a;
	uint8_t got[4];
	int ours = mr_preview_parse_ipv4_any(s, got), theirs;

	if (strpbrk(s, " \t\n\v\f\r") != NULL)
		return;
	theirs = inet_aton(s, &a);
	if ((ours == 0) != (theirs != 0) || (ours == 0 &&
	    memcmp(got, &a, 4) != 0))
		abort();
}

/* The obvious O(n*m) table, as the reference for the iterative matcher. */
static int
glob_reference(const char *g, const char *s)
{
	size_t gn = strlen(g), sn = strlen(s);
	unsigned char m[65][65];

	if (gn > 64 || sn > 64)
		return -1;
	memset(m, 0, sizeof(m));
	m[gn][sn] = 1;
	for (size_t i = gn + 1; i-- > 0;)
		for (size_t j = sn + 1; j-- > 0;) {
			if (i == gn)
				continue;
			if (g[i] == '*')
				m[i][j] = m[i + 1][j] || (j < sn && m[i][j + 1]);
			else if (j < sn && (g[i] == '?' || g[i] == s[j]))
				m[i][j] = m[i + 1][j + 1];
		}
	return m[0][0];
}

static void
check_glob(const char *str)
{
	const char *nl = strchr(str, '\n');
	char g[65];
	size_t gn;
	int want;

	if (nl == NULL || (gn = (size_t)(nl - str)) > 64)
		return;
	memcpy(g, str, gn);
	g[gn] = '\0';
	want = glob_reference(g, nl + 1);
	if (want >= 0 && mr_preview_glob_match(g, nl + 1, 0) != want)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mr_preview_url_rules rules;
	struct mr_preview_url u;
	struct mr_err err;
	char *s;

	if (size > MR_PREVIEW_URL_MAX + 16)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&err, 0, sizeof(err));
	if (mr_preview_parse_url(s, &u, &err) == 0) {
		check_success(&u);
		if (mr_preview_parse_url_rules("host=*.x* path=/a*, port=22",
		    &rules) != 0)
			abort();
		(void)mr_preview_url_blocked(&u, &rules);
	} else {
		check_failure(&u, &err);
	}
	check_ipv4(s);
	check_glob(s);
	if (mr_preview_parse_url_rules(s, &rules) == 0 &&
	    rules.n > MR_PREVIEW_RULES_MAX)
		abort();
	free(s);
	return 0;
}
