/*
 * fuzz_server_name: libFuzzer target for mr_mxc_valid_server_name, which
 * every server name from outside passes (media paths, X-Matrix, config
 * lists, .well-known), and mr_mxc_same_server, which compares names with
 * the lists. Besides memory errors it checks the contract against libc as
 * an independent oracle: a name that is accepted and that inet_aton would
 * read as an IPv4 address is that address's dotted quad; an accepted IPv6
 * literal is glibc's own inet_ntop text of it and not IPv4-mapped; ports
 * and labels have one spelling; and a name is the same server as itself
 * in any case.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -o fuzz_server_name tests/fuzz/fuzz_server_name.c common/mxc.c \
 *     common/util.c -lsodium
 * ./fuzz_server_name tests/fuzz/corpus/server_name
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/mxc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted "[v6]": what glibc prints for it, and not ::ffff:0:0/96. */
static void
check_ipv6(const char *s, size_t len)
{
	char in[64], out[INET6_ADDRSTRLEN];
	unsigned char a[16];
	static const unsigned char zero[12];

	if (len >= sizeof(in))
		abort();
	memcpy(in, s, len);
	in[len] = '\0';
	if (inet_pton(AF_INET6, in, a) != 1 ||
	    inet_ntop(AF_INET6, a, out, sizeof(out)) == NULL)
		abort();
	if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff)
		abort();
	/* glibc writes ::/96 (IPv4-compatible) with a dotted tail; skip it. */
	if (memcmp(a, zero, 12) == 0 && strchr(out, '.') != NULL)
		return;
	if (strcmp(in, out) != 0)
		abort();
}

/* An accepted host that inet_aton reads as an address is its quad. */
static void
check_host(const char *s, size_t len)
{
	char in[300];
	struct in_addr a;

	if (len == 0 || len >= sizeof(in) || s[0] == '.' || s[len - 1] == '.' ||
	    memmem(s, len, "..", 2) != NULL)
		abort();
	memcpy(in, s, len);
	in[len] = '\0';
	if (inet_aton(in, &a) != 0 && strcmp(inet_ntoa(a), in) != 0)
		abort();
}

static void
check_port(const char *p)
{
	size_t n = strlen(p);

	if (n < 1 || n > 5 || (p[0] == '0' && n > 1) || atol(p) > 65535)
		abort();
}

static void
check_valid(const char *s)
{
	size_t len = strlen(s);
	const char *colon;
	char upper[MR_SERVER_NAME_MAX + 1];

	if (len > MR_SERVER_NAME_MAX)
		abort();
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		check_ipv6(s + 1, (size_t)(close - s - 1));
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strchr(s, ':');
		check_host(s, colon != NULL ? (size_t)(colon - s) : len);
	}
	if (colon != NULL)
		check_port(colon + 1);
	/* The same server in any case; never with a byte more or less. */
	for (size_t i = 0; i <= len; i++)
		upper[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
	if (!mr_mxc_same_server(s, len, upper, len) ||
	    !mr_mxc_same_server(upper, len, s, len) ||
	    (len > 0 && mr_mxc_same_server(s, len, upper, len - 1)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct mr_mxc m;
	char *uri;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mr_mxc_valid_server_name(s))
		check_valid(s);
	/* The mxc:// parser agrees with the grammar on a slash-free name. */
	if (strchr(s, '/') == NULL && (uri = malloc(size + 10)) != NULL) {
		memcpy(uri, "mxc://", 6);
		memcpy(uri + 6, s, strlen(s));
		memcpy(uri + 6 + strlen(s), "/id", 4);
		if ((mr_mxc_parse_uri(uri, &m, NULL) == 0) !=
		    (mr_mxc_valid_server_name(s) == 1))
			abort();
		free(uri);
	}
	free(s);
	return 0;
}
