/*
 * fed_discover: where to connect for a federation request to a server name
 * (spec.md 4.8), as decisions over plain values. It owns no sockets, no
 * cache and no HTTP: the caller fetches /.well-known/matrix/server, keeps
 * the cache and opens the TLS connection; this module says what to ask,
 * how long an answer may be kept and what the result means.
 *
 * Contract:
 * - Nothing here allocates memory the caller must free; results go into
 *   caller buffers whose sizes are fixed below.
 * - mr_fed_discover() never fails for a valid server name: every lookup
 *   that fails falls through to the next step, ending at <hostname>:8448.
 *   It fails (400 M_INVALID_PARAM) only for a name outside spec.md 2.2,
 *   or with port 0, which nothing can connect to.
 * - IP literals come out as text without brackets ("[2001:db8::1]"
 *   becomes "2001:db8::1"). mxc's grammar admits only canonical literals
 *   and refuses hosts that end in a number but are not a dotted quad
 *   ("127.1", "010.1.1.1"), which resolvers would read as addresses.
 * - connect_host, when not an IP, is a dns-name for A/AAAA resolution;
 *   a name can still resolve to any address, so the caller must check the
 *   addresses it resolves, not the names.
 * - Only one level of .well-known delegation is followed (spec.md 4.8
 *   step 3 works on the delegated name; it does not fetch again).
 * - mr_fed_srv_lookup() is the only function that touches the network: a
 *   blocking DNS query with a short timeout (1 s per name server, one try).
 */
#ifndef MR_FED_DISCOVER_H
#define MR_FED_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

#include "mxc.h"
#include "util.h"

#define MR_FED_DEFAULT_PORT 8448
/* .well-known bodies are one small object; anything bigger is abuse. */
#define MR_FED_WELL_KNOWN_MAX_BODY (64 * 1024)

/* Cache lifetimes of a .well-known answer, in milliseconds (spec.md 4.8). */
#define MR_FED_WELL_KNOWN_DEFAULT_MS	(24 * 3600 * INT64_C(1000))
#define MR_FED_WELL_KNOWN_MAX_MS	(48 * 3600 * INT64_C(1000))
/*
 * Floor for answers that ask not to be cached at all (no-store, max-age=0,
 * an Expires in the past): obeying them to the letter would fetch
 * .well-known before every federation request, a round trip per media
 * download and an amplifier against the remote. Synapse uses the same.
 */
#define MR_FED_WELL_KNOWN_MIN_MS	(5 * 60 * INT64_C(1000))
/* Failed fetches: first retry after 2 min, doubling, never over 1 h. */
#define MR_FED_WELL_KNOWN_ERROR_FIRST_MS (2 * 60 * INT64_C(1000))
#define MR_FED_WELL_KNOWN_ERROR_MAX_MS	(3600 * INT64_C(1000))

struct mr_fed_target {
	char connect_host[256];	/* IP literal (no brackets) or DNS name to resolve with A/AAAA */
	uint16_t port;
	char host_header[MR_SERVER_NAME_MAX + 1];	/* Host: value */
	char tls_name[256];	/* name the certificate must match: hostname, or the IP for IP literals */
	int tls_name_is_ip;	/* then no SNI */
};

/*
 * Splits a server name into host and optional port (*port 0 if none).
 * For IP literals *is_ip is 1 and host is the canonical address without
 * brackets; for dns-names host is the name as written. -1 if name is not
 * a valid server name, has port 0, or host does not fit in hostsz.
 */
int mr_fed_split_server_name(const char *name, char *host, size_t hostsz,
    uint16_t *port, int *is_ip);

/*
 * Parses a .well-known/matrix/server body of len bytes (need not be
 * NUL-terminated), whatever its Content-Type: one JSON object, nothing but
 * whitespace after it, with a string "m.server" that is a valid server
 * name. Bodies over MR_FED_WELL_KNOWN_MAX_BODY are refused unread.
 * On failure err is 502 M_UNKNOWN; the caller goes on to SRV (step 4).
 */
int mr_fed_parse_well_known(const char *body, size_t len,
    char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err);

/*
 * How long, in ms, a successful .well-known answer may be cached, from its
 * Cache-Control and Expires header values (either may be NULL; several
 * Cache-Control fields are passed joined with ", "). max-age wins over
 * Expires (RFC 9111 4.2.1); no-store and unqualified no-cache mean "do not
 * cache", and an Expires that cannot be parsed means "already expired"
 * (RFC 9111 5.3). Nothing usable: MR_FED_WELL_KNOWN_DEFAULT_MS. The result
 * is clamped to [MR_FED_WELL_KNOWN_MIN_MS, MR_FED_WELL_KNOWN_MAX_MS].
 * now_ms is the current time, for Expires.
 */
int64_t mr_fed_well_known_lifetime(const char *cache_control,
    const char *expires, int64_t now_ms);
/*
 * How long to cache a failed or invalid .well-known fetch after
 * `failures` consecutive failures (0 counts as 1): exponential backoff
 * from MR_FED_WELL_KNOWN_ERROR_FIRST_MS up to MR_FED_WELL_KNOWN_ERROR_MAX_MS.
 */
int64_t mr_fed_well_known_error_lifetime(unsigned failures);

/* What discovery may ask the outside world; tests pass a fake table. */
struct mr_fed_resolver {
	/*
	 * 0 and *delegated set when /.well-known/matrix/server of host gives
	 * one; -1 when it fails or is invalid (discovery goes on with SRV).
	 * Discovery checks *delegated again, so a lax callback cannot harm.
	 * May be NULL: no well-known step.
	 */
	int (*well_known)(void *arg, const char *host,
	    char delegated[MR_SERVER_NAME_MAX + 1]);
	/*
	 * 0 and the first usable record (lowest priority; among equal
	 * priority the highest weight, the first of equals) for an SRV name
	 * such as "_matrix-fed._tcp.example.org"; -1 when none. A target of
	 * "." means "no service": -1. Discovery ignores answers whose target
	 * is not a dns-name or whose port is 0. May be NULL: no SRV steps.
	 */
	int (*srv)(void *arg, const char *name, char target[256],
	    uint16_t *port);
	void *arg;
};

/*
 * Spec 4.8 steps 1-6: IP literal; hostname with port; well-known (then
 * its sub-steps 3.1-3.5 on the delegated name); SRV _matrix-fed then
 * _matrix on the original hostname; else hostname:8448. Fills out with
 * the connect host and port, the Host header and the certificate name of
 * the step taken. -1 (400 M_INVALID_PARAM) only for an invalid name.
 */
int mr_fed_discover(const char *server_name, const struct mr_fed_resolver *r,
    struct mr_fed_target *out, struct mr_err *err);

/*
 * The real SRV lookup for struct mr_fed_resolver.srv (arg unused): one
 * res_nquery on a private resolver state, so it is thread-safe and its
 * short timeout does not leak into other lookups. An answer that holds
 * only a CNAME is not followed with a second query.
 */
int mr_fed_srv_lookup(void *arg, const char *name, char target[256],
    uint16_t *port);
/*
 * The pure half of mr_fed_srv_lookup: picks the record from a raw DNS
 * answer of len bytes by the rules of struct mr_fed_resolver.srv. Every
 * length is checked against the message; 0 or -1.
 */
int mr_fed_srv_parse(const unsigned char *answer, size_t len,
    char target[256], uint16_t *port);

#endif
