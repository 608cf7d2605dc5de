/*
 * net: address ranges. Parses CIDR lists ("10.0.0.0/8, ::1/128") once,
 * and decides whether an address may be connected to. Every outbound
 * connection (federation, key fetches, redirects) asks mr_net_allowed at
 * connect time, so DNS rebinding and redirects into private space fail.
 * Pure: no allocation beyond the fixed-size list, no I/O.
 */
#ifndef MR_NET_H
#define MR_NET_H

#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

#define MR_NET_MAX_RANGES 64

struct mr_net_range {
	uint8_t addr[16];	/* IPv4 as IPv4-mapped IPv6 */
	unsigned prefix;	/* over the 128 bits */
};

struct mr_net_list {
	struct mr_net_range r[MR_NET_MAX_RANGES];
	unsigned n;
};

/* Synapse's recommended deny list (spec.md 6.2). */
#define MR_NET_DEFAULT_BLACKLIST \
	"127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, " \
	"100.64.0.0/10, 192.0.0.0/24, 169.254.0.0/16, 192.88.99.0/24, " \
	"198.18.0.0/15, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, " \
	"224.0.0.0/4, ::1/128, fe80::/10, fc00::/7, 2001:db8::/32, " \
	"ff00::/8, fec0::/10"

/* "a/n, b/n"; a bare address is a /32 or /128. -1 on bad syntax. */
int mr_net_parse_list(const char *text, struct mr_net_list *out);
/* One address as text, IPv4 mapped into 16 bytes; -1 when it is none. */
int mr_net_parse_addr(const char *text, uint8_t out[16]);
/* 1 when addr (16-byte IPv6, IPv4 mapped) is in the list. */
int mr_net_in_list(const uint8_t addr[16], const struct mr_net_list *l);
/*
 * 1 when a connection to sa may be made: not in deny, or in allow.
 * 0.0.0.0, ::, and their mapped/NAT64 forms are always refused; IPv4
 * embedded in IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96) is
 * judged as the IPv4 address it carries.
 */
int mr_net_allowed(const struct sockaddr *sa, const struct mr_net_list *deny,
    const struct mr_net_list *allow);

#endif
