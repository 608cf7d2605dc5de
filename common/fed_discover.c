/*
 * fed_discover: server-name resolution decisions of spec.md 4.8, the
 * .well-known body and cache-lifetime rules, and the SRV lookup.
 */
#include "fed_discover.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

/* --- server names --- */

/* Decimal dotted quad (mxc's grammar has refused leading zeros). */
static int
fed_parse_ipv4(const char *s, unsigned char out[4])
{
	for (int i = 0; i < 4; i++) {
		int v = 0, digits = 0;

		while (isdigit((unsigned char)*s) && digits < 4) {
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (digits < 1 || digits > 3 || v > 255)
			return -1;
		out[i] = (unsigned char)v;
		if (i < 3 && *s++ != '.')
			return -1;
	}
	return *s == '\0' ? 0 : -1;
}

/* Canonical text of an IP literal (host without brackets) into out. */
static int
fed_canon_ip(const char *host, int v6, char *out, size_t outsz)
{
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];

	if (v6) {
		/* mxc's grammar check passed; inet_pton is the final word. */
		if (inet_pton(AF_INET6, host, addr) != 1)
			return -1;
	} else if (fed_parse_ipv4(host, addr) < 0) {
		return -1;
	}
	if (inet_ntop(v6 ? AF_INET6 : AF_INET, addr, text, sizeof(text)) == NULL)
		return -1;
	if (strlen(text) >= outsz)
		return -1;
	memcpy(out, text, strlen(text) + 1);
	return 0;
}

static int
fed_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (n >= dstsz)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
mr_fed_split_server_name(const char *name, char *host, size_t hostsz,
    uint16_t *port, int *is_ip)
{
	char raw[MR_SERVER_NAME_MAX + 1];
	const char *hend, *colon = NULL;
	int v6 = name != NULL && name[0] == '[';
	unsigned char quad[4];

	if (!mr_mxc_valid_server_name(name))
		return -1;
	/* The grammar check passed: "[v6]" or "[v6]:port" or "host[:port]". */
	if (v6) {
		hend = strchr(name, ']');
		if (hend[1] == ':')
			colon = hend + 1;
	} else {
		colon = strchr(name, ':');
		hend = colon != NULL ? colon : name + strlen(name);
	}
	*port = 0;
	if (colon != NULL) {
		long v = strtol(colon + 1, NULL, 10);

		/* Grammar-valid, but no socket can connect to port 0. */
		if (v < 1 || v > 65535)
			return -1;
		*port = (uint16_t)v;
	}
	if (v6) {
		*is_ip = 1;
		if (fed_copy(raw, sizeof(raw), name + 1, (size_t)(hend - name - 1)) < 0)
			return -1;
		return fed_canon_ip(raw, 1, host, hostsz);
	}
	if (fed_copy(raw, sizeof(raw), name, (size_t)(hend - name)) < 0)
		return -1;
	*is_ip = fed_parse_ipv4(raw, quad) == 0;
	if (*is_ip)
		return fed_canon_ip(raw, 0, host, hostsz);
	return fed_copy(host, hostsz, raw, strlen(raw));
}

/* --- .well-known body --- */

/* A name discovery can act on: valid, and a port other than 0. */
static int
fed_usable_name(const char *name)
{
	char host[256];
	uint16_t port;
	int is_ip;

	return mr_fed_split_server_name(name, host, sizeof(host), &port,
	    &is_ip) == 0;
}

int
mr_fed_parse_well_known(const char *body, size_t len,
    char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err)
{
	const char *end = NULL;
	cJSON *root, *ms;
	int rc = -1;

	if (body == NULL || len == 0)
		return mr_err_set(err, 502, "M_UNKNOWN", "empty well-known body");
	if (len > MR_FED_WELL_KNOWN_MAX_BODY)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "well-known body over %d bytes", MR_FED_WELL_KNOWN_MAX_BODY);
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL)
		return mr_err_set(err, 502, "M_UNKNOWN", "well-known body is not json");
	/* cJSON stops after the value; trailing bytes make it not JSON. */
	while (end < body + len && *end != '\0' && strchr(" \t\r\n", *end) != NULL)
		end++;
	if (end != body + len) {
		mr_err_set(err, 502, "M_UNKNOWN", "well-known body is not json");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		mr_err_set(err, 502, "M_UNKNOWN", "well-known body is not an object");
		goto out;
	}
	ms = cJSON_GetObjectItemCaseSensitive(root, "m.server");
	if (!cJSON_IsString(ms) || ms->valuestring == NULL) {
		mr_err_set(err, 502, "M_UNKNOWN", "well-known has no string 'm.server'");
		goto out;
	}
	if (!fed_usable_name(ms->valuestring)) {
		mr_err_set(err, 502, "M_UNKNOWN",
		    "well-known 'm.server' is not a valid server name");
		goto out;
	}
	memcpy(delegated, ms->valuestring, strlen(ms->valuestring) + 1);
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* --- cache lifetime --- */

/* Case-insensitive compare of s[0..n) with a NUL-terminated word. */
static int
fed_word_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/*
 * delta-seconds (RFC 9111 1.2.2), optionally quoted, into ms; values too
 * big to matter saturate at the cap. -1 if not all digits.
 */
static int
fed_parse_delta(const char *v, size_t n, int64_t *ms)
{
	int64_t secs = 0;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		/* Past the cap the value no longer matters; stop growing. */
		if (secs <= MR_FED_WELL_KNOWN_MAX_MS / 1000)
			secs = secs * 10 + (v[i] - '0');
	}
	*ms = secs > MR_FED_WELL_KNOWN_MAX_MS / 1000 ?
	    MR_FED_WELL_KNOWN_MAX_MS : secs * 1000;
	return 0;
}

/* End of one Cache-Control directive: the next comma outside quotes. */
static const char *
fed_directive_end(const char *p)
{
	int quoted = 0;

	for (; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == ',' && !quoted)
			break;
	}
	return p;
}

/*
 * Reads the directives we act on. *no_store set for no-store or bare
 * no-cache (we never revalidate, so no-cache is as good as no-store);
 * *max_age_ms set (else -1) from the first well-formed max-age.
 */
static void
fed_parse_cache_control(const char *cc, int *no_store, int64_t *max_age_ms)
{
	const char *p = cc;

	*no_store = 0;
	*max_age_ms = -1;
	while (p != NULL && *p != '\0') {
		const char *end = fed_directive_end(p), *eq;
		size_t n;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		eq = memchr(p, '=', n);
		if (eq == NULL && (fed_word_eq(p, n, "no-store") ||
		    fed_word_eq(p, n, "no-cache")))
			*no_store = 1;
		else if (eq != NULL && *max_age_ms < 0 &&
		    fed_word_eq(p, (size_t)(eq - p), "max-age"))
			(void)fed_parse_delta(eq + 1, n - (size_t)(eq + 1 - p),
			    max_age_ms);
		p = *end == ',' ? end + 1 : end;
	}
}

static int
fed_month(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (strlen(m) == 3 && strncmp(names + 3 * i, m, 3) == 0)
			return i + 1;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
fed_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * HTTP-date (RFC 9110 5.6.7) in all three forms a recipient must accept:
 * IMF-fixdate, RFC 850 and asctime. sscanf's %d and %s do not depend on
 * the locale, unlike strptime's %a and %b.
 */
static int
fed_parse_http_date(const char *s, int64_t *ms)
{
	char wd[10], mon[4];
	int d, y, hh, mm, ss, used = 0;

	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	    wd, &d, mon, &y, &hh, &mm, &ss, &used) == 7 && used > 0) {
		/* IMF-fixdate */
	} else if (sscanf(s, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
	    wd, &d, mon, &y, &hh, &mm, &ss, &used) == 7 && used > 0) {
		/* RFC 850: two-digit years; a cache horizon makes 19xx moot. */
		if (y < 0)
			return -1;
		y += y < 70 ? 2000 : 1900;
	} else if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n",
	    wd, mon, &d, &hh, &mm, &ss, &y, &used) == 7 && used > 0) {
		/* asctime */
	} else {
		return -1;
	}
	while (s[used] == ' ' || s[used] == '\t')
		used++;
	if (s[used] != '\0' || fed_month(mon) == 0 || d < 1 || d > 31 ||
	    y < 1970 || hh > 23 || mm > 59 || ss > 60 || hh < 0 || mm < 0 ||
	    ss < 0)
		return -1;
	*ms = ((fed_days_from_civil(y, fed_month(mon), d) * 86400) +
	    hh * 3600 + mm * 60 + ss) * 1000;
	return 0;
}

int64_t
mr_fed_well_known_lifetime(const char *cache_control, const char *expires,
    int64_t now_ms)
{
	int no_store;
	int64_t life = MR_FED_WELL_KNOWN_DEFAULT_MS, max_age, at;

	fed_parse_cache_control(cache_control, &no_store, &max_age);
	if (no_store)
		life = 0;
	else if (max_age >= 0)
		life = max_age;
	else if (expires != NULL)
		/* An unreadable Expires, "0" included, is already expired. */
		life = fed_parse_http_date(expires, &at) < 0 ? 0 : at - now_ms;
	if (life < MR_FED_WELL_KNOWN_MIN_MS)
		return MR_FED_WELL_KNOWN_MIN_MS;
	return life > MR_FED_WELL_KNOWN_MAX_MS ? MR_FED_WELL_KNOWN_MAX_MS : life;
}

int64_t
mr_fed_well_known_error_lifetime(unsigned failures)
{
	int64_t life = MR_FED_WELL_KNOWN_ERROR_FIRST_MS;

	/* Stop doubling at the cap, so a long failure streak cannot overflow. */
	for (unsigned i = 1; i < failures && life < MR_FED_WELL_KNOWN_ERROR_MAX_MS; i++)
		life *= 2;
	return life > MR_FED_WELL_KNOWN_ERROR_MAX_MS ?
	    MR_FED_WELL_KNOWN_ERROR_MAX_MS : life;
}

/* --- discovery --- */

/* An SRV target we are willing to resolve: a dns-name, not "." alone. */
static int
fed_valid_srv_target(const char *t)
{
	size_t n = strnlen(t, 256);

	if (n == 0 || n > 255 || strcmp(t, ".") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '.')
			return 0;
	return 1;
}

static void
fed_fill(struct mr_fed_target *out, const char *connect, uint16_t port,
    const char *host_header, const char *tls_name, int is_ip)
{
	snprintf(out->connect_host, sizeof(out->connect_host), "%s", connect);
	out->port = port != 0 ? port : MR_FED_DEFAULT_PORT;
	snprintf(out->host_header, sizeof(out->host_header), "%s", host_header);
	snprintf(out->tls_name, sizeof(out->tls_name), "%s", tls_name);
	out->tls_name_is_ip = is_ip;
}

/*
 * Steps 4-5 (and 3.3-3.4 on a delegated name): SRV _matrix-fed, then the
 * deprecated _matrix. The certificate and Host stay the queried hostname:
 * DNS is not secure, so the SRV target must prove it serves hostname.
 */
static int
fed_try_srv(const char *hostname, const struct mr_fed_resolver *r,
    struct mr_fed_target *out)
{
	static const char *const services[] = { "_matrix-fed._tcp.", "_matrix._tcp." };
	char name[300], target[256];
	uint16_t port;

	if (r == NULL || r->srv == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		int n = snprintf(name, sizeof(name), "%s%s", services[i], hostname);

		/* Past 255 bytes it is no DNS name; asking would only fail. */
		if (n < 0 || n > 255)
			continue;
		target[0] = '\0';
		port = 0;
		if (r->srv(r->arg, name, target, &port) < 0)
			continue;
		target[sizeof(target) - 1] = '\0';
		if (port == 0 || !fed_valid_srv_target(target))
			continue;
		fed_fill(out, target, port, hostname, hostname, 0);
		return 0;
	}
	return -1;
}

/* Step 3.1-3.5 on the name .well-known delegated to; -1 goes to step 4. */
static int
fed_from_delegated(const char *delegated, const struct mr_fed_resolver *r,
    struct mr_fed_target *out)
{
	char host[256];
	uint16_t port;
	int is_ip;

	if (mr_fed_split_server_name(delegated, host, sizeof(host), &port,
	    &is_ip) < 0)
		return -1;
	if (is_ip || port != 0) {
		/* 3.1 and 3.2: Host is the delegated name as given. */
		fed_fill(out, host, port, delegated, host, is_ip);
		return 0;
	}
	if (fed_try_srv(host, r, out) == 0)
		return 0;
	fed_fill(out, host, 0, host, host, 0);
	return 0;
}

int
mr_fed_discover(const char *server_name, const struct mr_fed_resolver *r,
    struct mr_fed_target *out, struct mr_err *err)
{
	char host[256], delegated[MR_SERVER_NAME_MAX + 1];
	uint16_t port;
	int is_ip;

	memset(out, 0, sizeof(*out));
	if (mr_fed_split_server_name(server_name, host, sizeof(host), &port,
	    &is_ip) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid server name");
	/* Steps 1 and 2: the name says where to go; nothing to look up. */
	if (is_ip || port != 0) {
		fed_fill(out, host, port, server_name, host, is_ip);
		return 0;
	}
	delegated[0] = '\0';
	if (r != NULL && r->well_known != NULL &&
	    r->well_known(r->arg, host, delegated) == 0) {
		delegated[sizeof(delegated) - 1] = '\0';
		if (fed_from_delegated(delegated, r, out) == 0)
			return 0;
	}
	if (fed_try_srv(host, r, out) == 0)
		return 0;
	fed_fill(out, host, 0, host, host, 0);
	return 0;
}

/* --- SRV over DNS --- */

/* Target and port of one SRV record, or -1 if it is malformed or unusable. */
static int
fed_srv_record(const ns_msg *msg, const ns_rr *rr, uint16_t *prio,
    uint16_t *weight, uint16_t *port, char target[256])
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	int n;

	/* priority, weight, port, then at least the root label. */
	if (ns_rr_rdlen(*rr) < 7)
		return -1;
	*prio = (uint16_t)(rd[0] << 8 | rd[1]);
	*weight = (uint16_t)(rd[2] << 8 | rd[3]);
	*port = (uint16_t)(rd[4] << 8 | rd[5]);
	n = dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rd + 6, target, 256);
	/* The name must start and end inside this record's data. */
	if (n < 0 || n > ns_rr_rdlen(*rr) - 6)
		return -1;
	if (*port == 0 || !fed_valid_srv_target(target))
		return -1;
	return 0;
}

int
mr_fed_srv_parse(const unsigned char *answer, size_t len, char target[256],
    uint16_t *port)
{
	ns_msg msg;
	ns_rr rr;
	int found = 0;
	uint16_t best_prio = 0, best_weight = 0;

	if (answer == NULL || len > NS_MAXMSG ||
	    ns_initparse(answer, (int)len, &msg) < 0 ||
	    ns_msg_getflag(msg, ns_f_rcode) != ns_r_noerror)
		return -1;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		char t[256];
		uint16_t prio, weight, p;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return -1;
		/* A CNAME in the answer is skipped: we never re-query. */
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue;
		if (fed_srv_record(&msg, &rr, &prio, &weight, &p, t) < 0)
			continue;
		if (found && (prio > best_prio ||
		    (prio == best_prio && weight <= best_weight)))
			continue;
		found = 1;
		best_prio = prio;
		best_weight = weight;
		*port = p;
		memcpy(target, t, strlen(t) + 1);
	}
	return found ? 0 : -1;
}

int
mr_fed_srv_lookup(void *arg, const char *name, char target[256],
    uint16_t *port)
{
	struct __res_state rs;
	unsigned char answer[8192];
	int n;

	(void)arg;
	if (name == NULL || strlen(name) > 255)
		return -1;
	memset(&rs, 0, sizeof(rs));
	/*
	 * No res_nclose after a failed res_ninit: the zeroed state would name
	 * fd 0, the FastCGI socket, as its TCP socket.
	 */
	if (res_ninit(&rs) < 0)
		return -1;
	/*
	 * Discovery runs inside a request: one try of 1 s per name server
	 * bounds a dead resolver at a few seconds instead of glibc's 5 s x 2
	 * per server. resolv.conf's own timeout is overridden on purpose.
	 */
	rs.retrans = 1;
	rs.retry = 1;
	n = res_nquery(&rs, name, ns_c_in, ns_t_srv, answer, sizeof(answer));
	res_nclose(&rs);
	if (n <= 0)
		return -1;
	/* Some resolvers report the full length of a truncated answer. */
	if ((size_t)n > sizeof(answer))
		n = (int)sizeof(answer);
	return mr_fed_srv_parse(answer, (size_t)n, target, port);
}
