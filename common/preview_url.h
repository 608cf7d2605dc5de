/*
 * preview_url: the URL and address checks of URL previews (spec.md 6.2),
 * the feature most used for server-side request forgery. It parses the
 * ?url= a client sends, recognises every spelling of an IP literal, applies
 * url_preview_url_blacklist, and decides whether an address may be reached
 * (url_preview_ip_range_blacklist / _whitelist).
 *
 * Pure: no allocation, no I/O, no locale, no DNS. Every struct is fixed
 * size and owned by the caller; nothing here keeps state.
 *
 * The order a preview handler follows:
 *   1. mr_preview_parse_url; refuse with the error it fills.
 *   2. mr_preview_url_blocked against the configured rules; refuse.
 *   3. host_is_ip: mr_preview_ip_allowed on u.ip; refuse before connecting.
 *   4. Fetch mr_preview_url_format's output (not the client's string, so
 *      the fetcher cannot read the URL differently from this parser), with
 *      mr_preview_addr_allowed (or mr_net_allowed, which it extends) asked
 *      at connect time for every address of every hop. A name such as
 *      "localhost" is not an IP literal: step 4 is what refuses it, and it
 *      also defeats DNS rebinding. Each redirect's Location goes through
 *      steps 1 to 4 again.
 *
 * Limits and decisions (each refused with 400 M_INVALID_PARAM):
 *   - the whole URL is at most MR_PREVIEW_URL_MAX (2048) bytes, both as
 *     given and as mr_preview_url_format writes it for the fetch;
 *   - only http and https (any case), followed by "//";
 *   - no byte below 0x21 or 0x7f anywhere (spaces, tabs, CR, LF, NUL
 *     cannot occur), and bytes >= 0x80 only as valid UTF-8 in the path,
 *     query or fragment;
 *   - no userinfo at all ("u@h", "u:p@h"): a password would be leaked to
 *     the logs of whoever we fetch from, and "a@b" is the classic trick to
 *     make a URL look as if it went to "a". username_present is therefore
 *     always 0 after a successful parse; it stays for callers that log;
 *   - the host is ASCII only: an IDN must come as its "xn--" form, since
 *     converting it here would need IDNA tables and a locale; '%' is
 *     refused in the host outright (a valid %-escape there could only hide
 *     ASCII or spell an IDN), and so is '\' (browsers read it as '/');
 *   - host names are [A-Za-z0-9._-], labels 1 to 63 bytes, at most 253
 *     bytes; one trailing dot is dropped ("example.com." is
 *     "example.com"), so blacklist globs cannot be dodged with it;
 *   - a host whose last label is a number (all digits, or 0x and hex) is an
 *     IPv4 literal in one of inet_aton's spellings and must parse as one
 *     ("1.2.3.256", "0x" are refused, as the WHATWG URL standard does),
 *     and is then stored in canonical dotted form;
 *   - IPv6 only in brackets, no zone id ("%25eth0"), no IPvFuture, stored
 *     in inet_ntop's canonical form without brackets;
 *   - the port, when given, is 1 to 5 digits with a value 1 to 65535; an
 *     empty port ("http://a:/") is refused;
 *   - the fragment is dropped; a path that starts with '?' gets a '/'.
 */
#ifndef MR_PREVIEW_URL_H
#define MR_PREVIEW_URL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net.h"
#include "util.h"

#define MR_PREVIEW_URL_MAX	2048	/* bytes, as Synapse's clients send */
#define MR_PREVIEW_HOST_MAX	253	/* DNS name limit, without a final dot */

struct mr_preview_url {
	char scheme[8];		/* "http" or "https", lower-cased */
	char host[256];		/* lower-cased; IPv6 without brackets; IPv4
				 * literal in canonical dotted form */
	int host_is_ip;		/* 4 or 6 when the host is an IP literal in
				 * any spelling, else 0 */
	uint8_t ip[16];		/* when host_is_ip: the address, IPv4 mapped
				 * into ::ffff:0:0/96 */
	uint16_t port;		/* explicit or default (80/443) */
	int port_explicit;
	char path_and_query[4096];	/* as given, fragment removed; "/"
					 * when empty */
	char username_present;	/* always 0 on success: userinfo refused */
};

/*
 * Parses an absolute URL as a client sends it in ?url=. Returns 0, or -1
 * with 400 M_INVALID_PARAM and *out zeroed.
 */
int mr_preview_parse_url(const char *url, struct mr_preview_url *out,
    struct mr_err *err);

/*
 * The URL to fetch: scheme://host[:port]path_and_query, IPv6 in brackets,
 * the port only when explicit, and bytes >= 0x80 of the path
 * percent-encoded so the result is plain ASCII. The result is at most
 * MR_PREVIEW_URL_MAX bytes and parses back to the same scheme, host, port
 * and address. Returns its length, or -1 when outsz is too small
 * (MR_PREVIEW_URL_MAX + 1 always suffices: the parser refuses URLs whose
 * fetched form would be longer).
 */
int mr_preview_url_format(const struct mr_preview_url *u, char *out,
    size_t outsz);

/*
 * inet_aton's spellings of an IPv4 address, written out so they do not
 * depend on the C library or the locale: one to four parts separated by
 * '.', each decimal, octal (leading 0) or hex (0x/0X); the last part fills
 * the remaining bytes ("127.1", "2130706433", "0x7f.0.0.01", "0177.0.0.1").
 * One deliberate difference: inet_aton ignores anything after a
 * whitespace character ("1.2.3.4 junk"); this takes the whole string only,
 * as glibc's getaddrinfo (inet_aton_exact) does. 0, or -1 and out zeroed.
 */
int mr_preview_parse_ipv4_any(const char *s, uint8_t out[4]);

/*
 * url_preview_url_blacklist. The config value is a comma-separated list of
 * rules; a rule is space-separated conditions, each at most once:
 *   scheme=GLOB   host=GLOB   port=N   path=GLOB
 * A rule matches when all its conditions match; a URL that matches any
 * rule is refused. Example:
 *   "host=*.internal.example, scheme=http, port=22, host=evil.com path=/admin*"
 * Globs: '*' any run of bytes (dots and slashes included), '?' one byte,
 * everything else literal; no escapes, so a glob cannot hold ',' or ' '.
 * scheme and host compare case-insensitively, path case-sensitively.
 * host is matched against the canonical host of the parsed URL (an IPv4
 * literal in dotted form whatever its spelling, IPv6 without brackets);
 * port against the effective port; path against the path only (no query),
 * after decoding %-escapes of unreserved characters and removing "." and
 * ".." segments, so "/%61dmin" and "/x/../admin" match "path=/admin*".
 * Servers that fold case or collapse "//" need a rule written for it
 * ("path=*admin*").
 */
#define MR_PREVIEW_RULES_MAX	64
#define MR_PREVIEW_GLOB_MAX	256	/* bytes per glob, NUL included */

enum {
	MR_PREVIEW_RULE_SCHEME = 1 << 0,
	MR_PREVIEW_RULE_HOST = 1 << 1,
	MR_PREVIEW_RULE_PORT = 1 << 2,
	MR_PREVIEW_RULE_PATH = 1 << 3,
};

struct mr_preview_url_rule {
	unsigned has;			/* MR_PREVIEW_RULE_* bits */
	char scheme[MR_PREVIEW_GLOB_MAX];
	char host[MR_PREVIEW_GLOB_MAX];
	char path[MR_PREVIEW_GLOB_MAX];
	uint16_t port;
};

/* About 50 KB: allocate it with the config, not on a small stack. */
struct mr_preview_url_rules {
	struct mr_preview_url_rule r[MR_PREVIEW_RULES_MAX];
	unsigned n;
};

/*
 * Fills out from text; "" and NULL give no rules. -1 on bad syntax
 * (unknown key, repeated key, empty or over-long glob, bad port, more than
 * MR_PREVIEW_RULES_MAX rules), for the config check at start.
 */
int mr_preview_parse_url_rules(const char *text,
    struct mr_preview_url_rules *out);
size_t mr_preview_url_rules_size(void);
/* 1 when u matches a rule (refuse it), else 0. rules may be NULL. */
int mr_preview_url_blocked(const struct mr_preview_url *u,
    const struct mr_preview_url_rules *rules);
/*
 * 1 when s matches glob ('*', '?'), else 0. Iterative with one backtrack
 * point, so the time is at most strlen(glob) * strlen(s) steps whatever the
 * pattern ("a*a*a*a*b" against a long run of 'a' stays quick).
 */
int mr_preview_glob_match(const char *glob, const char *s, int nocase);

/*
 * The address check for previews, with sa from a connect attempt: 1 when
 * it may be reached. mr_net_allowed decides first (0.0.0.0/8 and :: always
 * refused, deny refused unless in allow, IPv4-mapped and NAT64
 * 64:ff9b::/96 judged as the IPv4 they carry). On top of that, IPv6
 * forms that carry an IPv4 address elsewhere are judged as both: the
 * deprecated IPv4-compatible ::/96 ("::127.0.0.1") and 6to4 2002::/16
 * (2002:7f00:1:: relays to 127.0.0.1) pass only when the embedded IPv4
 * passes too, and local-use NAT64 64:ff9b:1::/48 (RFC 8215, never a
 * public peer) is refused unless allow lists it.
 */
int mr_preview_addr_allowed(const struct sockaddr *sa,
    const struct mr_net_list *deny, const struct mr_net_list *allow);
/* The same for an IP literal parsed from a URL (16 bytes, IPv4 mapped),
 * so a literal is refused before any connection. */
int mr_preview_ip_allowed(const uint8_t ip[16],
    const struct mr_net_list *deny, const struct mr_net_list *allow);

#endif
