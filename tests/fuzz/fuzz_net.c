/*
 * fuzz_net: libFuzzer target for mr_net_parse_list, the CIDR list parser
 * behind ip_range_blacklist, trusted_proxies and metrics_allowed_ips, and
 * mr_net_parse_addr, which reads client addresses. Besides memory errors
 * it checks the contract: an accepted list holds at most
 * MR_NET_MAX_RANGES ranges, each prefix fits its 128 bits, every range
 * contains its own base address, and the whole input parsed as one
 * address is in the list made of it alone.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -o fuzz_net tests/fuzz/fuzz_net.c common/net.c common/util.c -lsodium
 * ./fuzz_net tests/fuzz/corpus/net
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_list(const struct mr_net_list *l)
{
	if (l->n > MR_NET_MAX_RANGES)
		abort();
	for (unsigned i = 0; i < l->n; i++)
		if (l->r[i].prefix > 128 || !mr_net_in_list(l->r[i].addr, l))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mr_net_list l;
	char *s = malloc(size + 1);
	uint8_t a[16];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mr_net_parse_list(s, &l) == 0)
		check_list(&l);
	if (mr_net_parse_addr(s, a) == 0) {
		/* An address is a list of one, which holds it. */
		if (mr_net_parse_list(s, &l) != 0 || l.n != 1 ||
		    !mr_net_in_list(a, &l))
			abort();
	}
	free(s);
	return 0;
}
