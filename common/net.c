/*
 * net: address ranges and the connect-time address check (see net.h).
 */
#include "net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any address as 16 bytes, IPv4 mapped into ::ffff:0:0/96. */
static void
net_map_v4(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

static int
net_parse_range(const char *s, struct mr_net_range *r)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint8_t v4[4];
	int64_t prefix;
	int is_v4;

	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, v4) == 1) {
		net_map_v4(v4, r->addr);
		is_v4 = 1;
	} else if (inet_pton(AF_INET6, addr, r->addr) == 1) {
		is_v4 = 0;
	} else {
		return -1;
	}
	if (slash == NULL)
		prefix = is_v4 ? 32 : 128;
	else if (mr_parse_int64(slash + 1, 0, is_v4 ? 32 : 128, &prefix) < 0)
		return -1;
	r->prefix = (unsigned)(is_v4 ? prefix + 96 : prefix);
	return 0;
}

int
mr_net_parse_list(const char *text, struct mr_net_list *out)
{
	char item[80];

	out->n = 0;
	while (*text != '\0') {
		size_t n;

		text += strspn(text, " ,\t");
		n = strcspn(text, " ,\t");
		if (n == 0)
			break;
		if (n >= sizeof(item) || out->n >= MR_NET_MAX_RANGES)
			return -1;
		memcpy(item, text, n);
		item[n] = '\0';
		if (net_parse_range(item, &out->r[out->n]) < 0)
			return -1;
		out->n++;
		text += n;
	}
	return 0;
}

static int
net_match(const uint8_t a[16], const struct mr_net_range *r)
{
	unsigned full = r->prefix / 8, rest = r->prefix % 8;

	if (memcmp(a, r->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ r->addr[full]) & (0xff << (8 - rest))) == 0;
}

int
mr_net_in_list(const uint8_t addr[16], const struct mr_net_list *l)
{
	for (unsigned i = 0; l != NULL && i < l->n; i++)
		if (net_match(addr, &l->r[i]))
			return 1;
	return 0;
}

int
mr_net_allowed(const struct sockaddr *sa, const struct mr_net_list *deny,
    const struct mr_net_list *allow)
{
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t zero[16];
	uint8_t a[16];

	if (sa->sa_family == AF_INET) {
		net_map_v4((const uint8_t *)&((const struct sockaddr_in *)sa)->
		    sin_addr, a);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		/* NAT64 reaches the IPv4 address it embeds: judge that. */
		if (memcmp(a, nat64, 12) == 0)
			net_map_v4(a + 12, a);
	} else {
		return 0;
	}
	/* "This host" in either family is never a peer. */
	if (memcmp(a, zero, 16) == 0 || (a[10] == 0xff && a[11] == 0xff &&
	    memcmp(a, zero, 10) == 0 && a[12] == 0))
		return 0;
	if (mr_net_in_list(a, allow))
		return 1;
	return !mr_net_in_list(a, deny);
}

int
mr_net_parse_addr(const char *text, uint8_t out[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		net_map_v4(v4, out);
		return 0;
	}
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}
