/*
 * test_fed_discover: spec.md 4.8 server discovery as tables over a fake
 * resolver that logs what it was asked, the .well-known body and cache
 * lifetime rules, SRV answer parsing from hand-built DNS messages, and one
 * real SRV lookup that must give up quickly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/fed_discover.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- the fake world --- */

struct fake_wk {
	const char *host;
	const char *delegated;
};

struct fake_srv {
	const char *name;
	const char *target;
	uint16_t port;
};

static const struct fake_wk fake_wks[] = {
	{ "wk-ip.example", "1.2.3.4" },
	{ "wk-ipport.example", "5.6.7.8:8443" },
	{ "wk-ip6.example", "[2001:db8::2]" },
	{ "wk-ip6port.example", "[2001:db8::2]:9000" },
	{ "wk-hostport.example", "delegated.example:1234" },
	{ "wk-fed.example", "fed.delegated.example" },
	{ "wk-old.example", "old.delegated.example" },
	{ "wk-both.example", "both.delegated.example" },
	{ "wk-none.example", "none.delegated.example" },
	{ "wk-invalid.example", "bad name" },
	{ "wk-port0.example", "x.example:0" },
	{ "wk-chain.example", "wk-ip.example" },
	/* Present only to prove explicit ports and IPs never ask. */
	{ "1.2.3.4", "never.example" },
};

static const struct fake_srv fake_srvs[] = {
	{ "_matrix-fed._tcp.delegated.example", "never.example", 1 },
	{ "_matrix-fed._tcp.fed.delegated.example", "fedsrv.example", 443 },
	{ "_matrix._tcp.old.delegated.example", "oldsrv.example", 8449 },
	{ "_matrix-fed._tcp.both.delegated.example", "bothfed.example", 444 },
	{ "_matrix._tcp.both.delegated.example", "bothold.example", 445 },
	{ "_matrix-fed._tcp.wk-invalid.example", "fallback.example", 1111 },
	{ "_matrix-fed._tcp.wk-fed.example", "never.example", 2 },
	{ "_matrix-fed._tcp.srv-fed.example", "target.example", 8443 },
	{ "_matrix._tcp.srv-old.example", "oldtarget.example", 8000 },
	{ "_matrix-fed._tcp.srv-both.example", "fedwins.example", 1001 },
	{ "_matrix._tcp.srv-both.example", "oldloses.example", 1002 },
	/* A lax resolver: discovery must ignore these answers itself. */
	{ "_matrix-fed._tcp.srv-dot.example", ".", 443 },
	{ "_matrix._tcp.srv-dot.example", "dotold.example", 7000 },
	{ "_matrix-fed._tcp.srv-port0.example", "port0.example", 0 },
	{ "_matrix-fed._tcp.srv-badtarget.example", "evil/target", 443 },
	{ "_matrix._tcp.srv-badtarget.example", "", 443 },
};

struct fake {
	char log[2048];
};

static void
fake_log(struct fake *f, const char *kind, const char *what)
{
	size_t n = strlen(f->log);

	snprintf(f->log + n, sizeof(f->log) - n, "%s:%s ", kind, what);
}

static int
fake_well_known(void *arg, const char *host,
    char delegated[MR_SERVER_NAME_MAX + 1])
{
	fake_log(arg, "wk", host);
	for (size_t i = 0; i < NELEM(fake_wks); i++)
		if (strcmp(fake_wks[i].host, host) == 0) {
			snprintf(delegated, MR_SERVER_NAME_MAX + 1, "%s",
			    fake_wks[i].delegated);
			return 0;
		}
	return -1;
}

static int
fake_srv(void *arg, const char *name, char target[256], uint16_t *port)
{
	fake_log(arg, "srv", name);
	for (size_t i = 0; i < NELEM(fake_srvs); i++)
		if (strcmp(fake_srvs[i].name, name) == 0) {
			snprintf(target, 256, "%s", fake_srvs[i].target);
			*port = fake_srvs[i].port;
			return 0;
		}
	return -1;
}

/* --- discovery --- */

struct disc_case {
	const char *name;
	const char *connect;
	uint16_t port;
	const char *host_header;
	const char *tls_name;
	int is_ip;
	const char *log;	/* every question, in order */
};

static const struct disc_case disc_cases[] = {
	/* 1: IP literals, no lookups; Host keeps the name as written. */
	{ "1.2.3.4", "1.2.3.4", 8448, "1.2.3.4", "1.2.3.4", 1, "" },
	{ "1.2.3.4:1234", "1.2.3.4", 1234, "1.2.3.4:1234", "1.2.3.4", 1, "" },
	{ "[::1]:8448", "::1", 8448, "[::1]:8448", "::1", 1, "" },
	{ "[2001:db8::1]", "2001:db8::1", 8448, "[2001:db8::1]",
	    "2001:db8::1", 1, "" },
	{ "[2001:db8::1]:443", "2001:db8::1", 443, "[2001:db8::1]:443",
	    "2001:db8::1", 1, "" },
	/* 2: explicit port, no lookups even where the fake has answers. */
	{ "wk-fed.example:8448", "wk-fed.example", 8448, "wk-fed.example:8448",
	    "wk-fed.example", 0, "" },
	{ "srv-fed.example:443", "srv-fed.example", 443, "srv-fed.example:443",
	    "srv-fed.example", 0, "" },
	{ "srv-fed.example:80", "srv-fed.example", 80,
	    "srv-fed.example:80", "srv-fed.example", 0, "" },
	/* Case is kept for Host; the certificate check ignores it. */
	{ "SRV-FED.example:443", "SRV-FED.example", 443, "SRV-FED.example:443",
	    "SRV-FED.example", 0, "" },
	/* 3.1: delegated to an IP literal. */
	{ "wk-ip.example", "1.2.3.4", 8448, "1.2.3.4", "1.2.3.4", 1,
	    "wk:wk-ip.example " },
	{ "wk-ipport.example", "5.6.7.8", 8443, "5.6.7.8:8443", "5.6.7.8", 1,
	    "wk:wk-ipport.example " },
	{ "wk-ip6.example", "2001:db8::2", 8448, "[2001:db8::2]",
	    "2001:db8::2", 1, "wk:wk-ip6.example " },
	{ "wk-ip6port.example", "2001:db8::2", 9000, "[2001:db8::2]:9000",
	    "2001:db8::2", 1, "wk:wk-ip6port.example " },
	/* 3.2: delegated host with port; no SRV although one exists. */
	{ "wk-hostport.example", "delegated.example", 1234,
	    "delegated.example:1234", "delegated.example", 0,
	    "wk:wk-hostport.example " },
	/* 3.3: _matrix-fed on the delegated name; Host and cert stay it. */
	{ "wk-fed.example", "fedsrv.example", 443, "fed.delegated.example",
	    "fed.delegated.example", 0,
	    "wk:wk-fed.example srv:_matrix-fed._tcp.fed.delegated.example " },
	/* 3.4: only the deprecated _matrix record. */
	{ "wk-old.example", "oldsrv.example", 8449, "old.delegated.example",
	    "old.delegated.example", 0,
	    "wk:wk-old.example srv:_matrix-fed._tcp.old.delegated.example "
	    "srv:_matrix._tcp.old.delegated.example " },
	/* Both: _matrix-fed wins and _matrix is never asked. */
	{ "wk-both.example", "bothfed.example", 444, "both.delegated.example",
	    "both.delegated.example", 0,
	    "wk:wk-both.example srv:_matrix-fed._tcp.both.delegated.example " },
	/* 3.5: no SRV for the delegated name; the original is not asked. */
	{ "wk-none.example", "none.delegated.example", 8448,
	    "none.delegated.example", "none.delegated.example", 0,
	    "wk:wk-none.example srv:_matrix-fed._tcp.none.delegated.example "
	    "srv:_matrix._tcp.none.delegated.example " },
	/* Invalid delegations go on to step 4 on the original name. */
	{ "wk-invalid.example", "fallback.example", 1111, "wk-invalid.example",
	    "wk-invalid.example", 0,
	    "wk:wk-invalid.example srv:_matrix-fed._tcp.wk-invalid.example " },
	{ "wk-port0.example", "wk-port0.example", 8448, "wk-port0.example",
	    "wk-port0.example", 0,
	    "wk:wk-port0.example srv:_matrix-fed._tcp.wk-port0.example "
	    "srv:_matrix._tcp.wk-port0.example " },
	/* One level of delegation only: wk-ip.example's own is not fetched. */
	{ "wk-chain.example", "wk-ip.example", 8448, "wk-ip.example",
	    "wk-ip.example", 0,
	    "wk:wk-chain.example srv:_matrix-fed._tcp.wk-ip.example "
	    "srv:_matrix._tcp.wk-ip.example " },
	/* 4: _matrix-fed on the hostname; cert for the hostname, not target. */
	{ "srv-fed.example", "target.example", 8443, "srv-fed.example",
	    "srv-fed.example", 0,
	    "wk:srv-fed.example srv:_matrix-fed._tcp.srv-fed.example " },
	/* 5: deprecated _matrix still used. */
	{ "srv-old.example", "oldtarget.example", 8000, "srv-old.example",
	    "srv-old.example", 0,
	    "wk:srv-old.example srv:_matrix-fed._tcp.srv-old.example "
	    "srv:_matrix._tcp.srv-old.example " },
	{ "srv-both.example", "fedwins.example", 1001, "srv-both.example",
	    "srv-both.example", 0,
	    "wk:srv-both.example srv:_matrix-fed._tcp.srv-both.example " },
	/* 6: nothing anywhere. */
	{ "plain.example", "plain.example", 8448, "plain.example",
	    "plain.example", 0,
	    "wk:plain.example srv:_matrix-fed._tcp.plain.example "
	    "srv:_matrix._tcp.plain.example " },
	/* Answers a lax resolver should not have given are skipped. */
	{ "srv-dot.example", "dotold.example", 7000, "srv-dot.example",
	    "srv-dot.example", 0,
	    "wk:srv-dot.example srv:_matrix-fed._tcp.srv-dot.example "
	    "srv:_matrix._tcp.srv-dot.example " },
	{ "srv-port0.example", "srv-port0.example", 8448, "srv-port0.example",
	    "srv-port0.example", 0,
	    "wk:srv-port0.example srv:_matrix-fed._tcp.srv-port0.example "
	    "srv:_matrix._tcp.srv-port0.example " },
	{ "srv-badtarget.example", "srv-badtarget.example", 8448,
	    "srv-badtarget.example", "srv-badtarget.example", 0,
	    "wk:srv-badtarget.example "
	    "srv:_matrix-fed._tcp.srv-badtarget.example "
	    "srv:_matrix._tcp.srv-badtarget.example " },
};

static void
test_discover_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(disc_cases); i++) {
		const struct disc_case *c = &disc_cases[i];
		struct fake f = { "" };
		struct mr_fed_resolver r = { fake_well_known, fake_srv, &f };
		struct mr_fed_target t;
		struct mr_err err;

		mr_err_clear(&err);
		if (mr_fed_discover(c->name, &r, &t, &err) != 0)
			fail_msg("'%s': failed: %s", c->name, err.msg);
		if (strcmp(t.connect_host, c->connect) != 0 || t.port != c->port ||
		    strcmp(t.host_header, c->host_header) != 0 ||
		    strcmp(t.tls_name, c->tls_name) != 0 ||
		    t.tls_name_is_ip != c->is_ip || strcmp(f.log, c->log) != 0)
			fail_msg("'%s': got %s port %u host '%s' tls '%s' ip %d "
			    "log '%s'", c->name, t.connect_host, t.port,
			    t.host_header, t.tls_name, t.tls_name_is_ip, f.log);
	}
}

static void
test_discover_invalid(void **state)
{
	static const char *const invalids[] = {
		"",
		"bad name",
		"example.org:",
		"example.org:65536",
		"example.org:0",
		"1.2.3.4:0",
		"[::1]:0",
		"[::1",
		"[::1]x",
		"[::1]:",
		"[::g]",
		"a:b",
		"a_b.example",
		"example.org/x",
		"example.org\r\nHost: evil",
		/* non-canonical spellings (mxc's grammar refuses them) */
		"010.001.000.001",
		"127.1",
		"[::ffff:127.0.0.1]:8448",
		"[2001:DB8::1]",
		"example.org:00080",
		"example.org.",
	};
	char long_name[300];

	(void)state;
	for (size_t i = 0; i <= NELEM(invalids) + 1; i++) {
		const char *name = i < NELEM(invalids) ? invalids[i] : NULL;
		struct fake f = { "" };
		struct mr_fed_resolver r = { fake_well_known, fake_srv, &f };
		struct mr_fed_target t;
		struct mr_err err;

		if (i == NELEM(invalids) + 1) {
			memset(long_name, 'a', 256);
			long_name[256] = '\0';
			name = long_name;
		}
		mr_err_clear(&err);
		if (mr_fed_discover(name, &r, &t, &err) != -1)
			fail_msg("accepted invalid name '%s'", name ? name : "NULL");
		assert_int_equal(err.status, 400);
		assert_string_equal(err.errcode, "M_INVALID_PARAM");
		assert_string_equal(f.log, "");
	}
}

static void
test_discover_no_resolver(void **state)
{
	struct mr_fed_resolver empty = { NULL, NULL, NULL };
	struct mr_fed_target t;

	(void)state;
	assert_int_equal(mr_fed_discover("plain.example", NULL, &t, NULL), 0);
	assert_string_equal(t.connect_host, "plain.example");
	assert_int_equal(t.port, 8448);
	assert_int_equal(mr_fed_discover("wk-fed.example", &empty, &t, NULL), 0);
	assert_string_equal(t.connect_host, "wk-fed.example");
	assert_int_equal(t.port, 8448);
}

/* A 250-byte hostname: the SRV names would pass 255 bytes, so none asked. */
static void
test_discover_long_name(void **state)
{
	char name[251], want[300];
	struct fake f = { "" };
	struct mr_fed_resolver r = { fake_well_known, fake_srv, &f };
	struct mr_fed_target t;

	(void)state;
	memset(name, 'a', 250);
	name[250] = '\0';
	assert_int_equal(mr_fed_discover(name, &r, &t, NULL), 0);
	assert_string_equal(t.connect_host, name);
	assert_string_equal(t.host_header, name);
	assert_int_equal(t.port, 8448);
	snprintf(want, sizeof(want), "wk:%s ", name);
	assert_string_equal(f.log, want);
}

/* --- splitting --- */

static void
test_split(void **state)
{
	static const struct {
		const char *name, *host;
		uint16_t port;
		int is_ip;
	} cases[] = {
		{ "example.org", "example.org", 0, 0 },
		{ "example.org:8448", "example.org", 8448, 0 },
		{ "example.org:65535", "example.org", 65535, 0 },
		{ "1.2.3.4", "1.2.3.4", 0, 1 },
		{ "1.2.3.4:1", "1.2.3.4", 1, 1 },
		{ "[::1]", "::1", 0, 1 },
		{ "[::1]:8448", "::1", 8448, 1 },
		{ "[2001:db8::1]", "2001:db8::1", 0, 1 },
		{ "EXAMPLE.org", "EXAMPLE.org", 0, 0 },
	};
	char host[256];
	uint16_t port;
	int is_ip;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		if (mr_fed_split_server_name(cases[i].name, host, sizeof(host),
		    &port, &is_ip) != 0)
			fail_msg("'%s' refused", cases[i].name);
		if (strcmp(host, cases[i].host) != 0 || port != cases[i].port ||
		    is_ip != cases[i].is_ip)
			fail_msg("'%s': got '%s' %u %d", cases[i].name, host, port,
			    is_ip);
	}
	/* A host that does not fit is refused, not cut. */
	assert_int_equal(mr_fed_split_server_name("example.org", host, 11,
	    &port, &is_ip), -1);
	assert_int_equal(mr_fed_split_server_name("example.org", host, 12,
	    &port, &is_ip), 0);
	assert_int_equal(mr_fed_split_server_name("[::1]", host, 3,
	    &port, &is_ip), -1);
	assert_int_equal(mr_fed_split_server_name(NULL, host, sizeof(host),
	    &port, &is_ip), -1);
}

/* --- .well-known body --- */

static void
test_well_known_body(void **state)
{
	static const struct {
		const char *body;
		size_t len;	/* 0: strlen */
		int rc;
		const char *delegated;
	} cases[] = {
		{ "{\"m.server\": \"delegated.example.com:1234\"}", 0, 0,
		    "delegated.example.com:1234" },
		{ "{\"m.server\":\"example.org\"}", 0, 0, "example.org" },
		{ " \r\n{\"m.server\":\"example.org\",\"x\":[1,{}]}\n\t ", 0, 0,
		    "example.org" },
		{ "{\"m.server\":\"[2001:db8::1]:8448\"}", 0, 0,
		    "[2001:db8::1]:8448" },
		{ "{\"m.server\":\"[2001:db8::1]\"}", 0, 0, "[2001:db8::1]" },
		{ "{\"m.server\":\"1.2.3.4\"}", 0, 0, "1.2.3.4" },
		/* len ends the body, not a NUL: trailing bytes not read */
		{ "{\"m.server\":\"a.example\"}garbage", 24, 0, "a.example" },
		{ "{\"m.server\":\"a.example\"}garbage", 0, -1, NULL },
		{ "{\"m.server\":\"a.example\"}{}", 0, -1, NULL },
		{ "", 0, -1, NULL },
		{ "not json", 0, -1, NULL },
		{ "<html>moved</html>", 0, -1, NULL },
		{ "{\"m.server\":\"a.example\"", 0, -1, NULL },
		{ "[\"m.server\", \"a.example\"]", 0, -1, NULL },
		{ "\"a.example\"", 0, -1, NULL },
		{ "null", 0, -1, NULL },
		{ "42", 0, -1, NULL },
		{ "{}", 0, -1, NULL },
		{ "{\"M.Server\":\"a.example\"}", 0, -1, NULL },
		{ "{\"m.server\":42}", 0, -1, NULL },
		{ "{\"m.server\":null}", 0, -1, NULL },
		{ "{\"m.server\":[\"a.example\"]}", 0, -1, NULL },
		{ "{\"m.server\":{\"a\":1}}", 0, -1, NULL },
		{ "{\"m.server\":\"\"}", 0, -1, NULL },
		{ "{\"m.server\":\"bad name\"}", 0, -1, NULL },
		{ "{\"m.server\":\"https://a.example\"}", 0, -1, NULL },
		{ "{\"m.server\":\"a.example:0\"}", 0, -1, NULL },
		{ "{\"m.server\":\"a.example:99999\"}", 0, -1, NULL },
		{ "{\"m.server\":\"[::1\"}", 0, -1, NULL },
		/* delegation to another spelling of an address */
		{ "{\"m.server\":\"127.000.000.001\"}", 0, -1, NULL },
		{ "{\"m.server\":\"[::ffff:127.0.0.1]:8448\"}", 0, -1, NULL },
		{ "{\"m.server\":\"127.1:8448\"}", 0, -1, NULL },
		{ "{\"m.server\":\"a.example\\r\\nX: y\"}", 0, -1, NULL },
	};
	char delegated[MR_SERVER_NAME_MAX + 1];
	struct mr_err err;
	char *huge;
	size_t hugelen = MR_FED_WELL_KNOWN_MAX_BODY + 1;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *b = cases[i].body;
		size_t len = cases[i].len ? cases[i].len : strlen(b);
		int rc;

		mr_err_clear(&err);
		strcpy(delegated, "unchanged");
		rc = mr_fed_parse_well_known(b, len, delegated, &err);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d (%s)", b, rc, err.msg);
		if (rc == 0 && strcmp(delegated, cases[i].delegated) != 0)
			fail_msg("'%s': got '%s'", b, delegated);
		if (rc != 0 && (err.status != 502 || err.msg[0] == '\0'))
			fail_msg("'%s': no error filled in", b);
	}

	/* A valid object padded past the limit: refused by size alone. */
	huge = malloc(hugelen + 1);
	assert_non_null(huge);
	memset(huge, ' ', hugelen);
	memcpy(huge, "{\"m.server\":\"a.example\"}", 24);
	huge[hugelen] = '\0';
	assert_int_equal(mr_fed_parse_well_known(huge, hugelen, delegated,
	    &err), -1);
	assert_int_equal(mr_fed_parse_well_known(huge, hugelen - 1, delegated,
	    &err), 0);
	assert_string_equal(delegated, "a.example");
	free(huge);
	assert_int_equal(mr_fed_parse_well_known(NULL, 0, delegated, NULL), -1);
}

/* --- cache lifetime --- */

#define H (3600 * INT64_C(1000))
/* Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date. */
#define NOW (INT64_C(784111777) * 1000)

static void
test_well_known_lifetime(void **state)
{
	static const struct {
		const char *cc, *expires;
		int64_t want;
	} cases[] = {
		{ NULL, NULL, 24 * H },
		{ "max-age=3600", NULL, 1 * H },
		{ "public, max-age=7200", NULL, 2 * H },
		{ "MAX-AGE=7200", NULL, 2 * H },
		{ " max-age=\"3600\" , public", NULL, 1 * H },
		{ "max-age=172800", NULL, 48 * H },
		{ "max-age=259200", NULL, 48 * H },
		{ "max-age=99999999999999999999999999", NULL, 48 * H },
		/* short, zero and "do not cache" all get the 5 min floor */
		{ "max-age=60", NULL, MR_FED_WELL_KNOWN_MIN_MS },
		{ "max-age=0", NULL, MR_FED_WELL_KNOWN_MIN_MS },
		{ "no-store", NULL, MR_FED_WELL_KNOWN_MIN_MS },
		{ "No-Cache", NULL, MR_FED_WELL_KNOWN_MIN_MS },
		{ "max-age=3600, no-store", NULL, MR_FED_WELL_KNOWN_MIN_MS },
		{ "no-store", "Sun, 06 Nov 1994 10:49:37 GMT",
		    MR_FED_WELL_KNOWN_MIN_MS },
		/* no-cache naming fields restricts those fields only */
		{ "no-cache=\"set-cookie\", max-age=3600", NULL, 1 * H },
		/* a max-age inside a quoted string is not a directive */
		{ "private=\"x, max-age=5\"", NULL, 24 * H },
		/* garbage: ignored, the default applies */
		{ "garbage;;", NULL, 24 * H },
		{ "max-age=abc", NULL, 24 * H },
		{ "max-age=", NULL, 24 * H },
		{ "max-age=-5", NULL, 24 * H },
		{ "max-age = 3600", NULL, 24 * H },
		{ ",,,", NULL, 24 * H },
		{ "", NULL, 24 * H },
		/* Expires when there is no max-age */
		{ NULL, "Sun, 06 Nov 1994 10:49:37 GMT", 2 * H },
		{ "max-age=abc", "Sun, 06 Nov 1994 10:49:37 GMT", 2 * H },
		{ NULL, "Sunday, 06-Nov-94 10:49:37 GMT", 2 * H },
		{ NULL, "Sun Nov  6 10:49:37 1994", 2 * H },
		{ NULL, "Thu, 10 Nov 1994 08:49:37 GMT", 48 * H },
		{ NULL, "Sun, 06 Nov 1994 08:49:37 GMT", MR_FED_WELL_KNOWN_MIN_MS },
		{ NULL, "Sat, 05 Nov 1994 08:49:37 GMT", MR_FED_WELL_KNOWN_MIN_MS },
		/* RFC 9111 5.3: an invalid Expires is already expired */
		{ NULL, "0", MR_FED_WELL_KNOWN_MIN_MS },
		{ NULL, "tomorrow", MR_FED_WELL_KNOWN_MIN_MS },
		{ NULL, "Sun, 06 Foo 1994 10:49:37 GMT", MR_FED_WELL_KNOWN_MIN_MS },
		{ NULL, "Sun, 06 Nov 1994 25:49:37 GMT", MR_FED_WELL_KNOWN_MIN_MS },
		{ NULL, "Sun, 06 Nov 1994 10:49:37 GMT junk",
		    MR_FED_WELL_KNOWN_MIN_MS },
		/* max-age wins over Expires, whichever is longer */
		{ "max-age=3600", "Sun, 06 Nov 1994 20:49:37 GMT", 1 * H },
		{ "max-age=36000", "Sat, 05 Nov 1994 08:49:37 GMT", 10 * H },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int64_t got = mr_fed_well_known_lifetime(cases[i].cc,
		    cases[i].expires, NOW);

		if (got != cases[i].want)
			fail_msg("cc '%s' expires '%s': got %lld want %lld",
			    cases[i].cc ? cases[i].cc : "NULL",
			    cases[i].expires ? cases[i].expires : "NULL",
			    (long long)got, (long long)cases[i].want);
	}
}

static void
test_well_known_error_lifetime(void **state)
{
	static const struct {
		unsigned failures;
		int64_t want;
	} cases[] = {
		{ 0, 2 * 60000 },
		{ 1, 2 * 60000 },
		{ 2, 4 * 60000 },
		{ 3, 8 * 60000 },
		{ 5, 32 * 60000 },
		{ 6, 60 * 60000 },
		{ 100, 60 * 60000 },
		{ 4000000000u, 60 * 60000 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		assert_int_equal(mr_fed_well_known_error_lifetime(
		    cases[i].failures), cases[i].want);
}

/* --- SRV answers, built by hand --- */

struct pkt {
	unsigned char b[1024];
	size_t n;
};

static void
put16(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (unsigned char)(v >> 8);
	p->b[p->n++] = (unsigned char)v;
}

static void
put_bytes(struct pkt *p, const void *src, size_t n)
{
	memcpy(p->b + p->n, src, n);
	p->n += n;
}

/* "a.b" as DNS labels; "" or "." is the root. */
static void
put_name(struct pkt *p, const char *s)
{
	while (*s != '\0' && strcmp(s, ".") != 0) {
		size_t l = strcspn(s, ".");

		p->b[p->n++] = (unsigned char)l;
		put_bytes(p, s, l);
		s += l;
		if (*s == '.')
			s++;
	}
	p->b[p->n++] = 0;
}

/* Header and question for _matrix-fed._tcp.example.org SRV. */
static void
pkt_start(struct pkt *p, unsigned rcode, unsigned ancount)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	put_name(p, "_matrix-fed._tcp.example.org");
	put16(p, 33);
	put16(p, 1);
}

/* Offset of "example.org" inside the question, for compression. */
#define EXAMPLE_ORG_OFF (12 + 12 + 5)

static void
pkt_rr(struct pkt *p, unsigned type, const void *rdata, size_t rdlen)
{
	put16(p, 0xc00c);	/* owner: the question name */
	put16(p, type);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, (unsigned)rdlen);
	put_bytes(p, rdata, rdlen);
}

static void
pkt_srv(struct pkt *p, unsigned prio, unsigned weight, unsigned port,
    const char *target)
{
	struct pkt rd = { .n = 0 };

	put16(&rd, prio);
	put16(&rd, weight);
	put16(&rd, port);
	put_name(&rd, target);
	pkt_rr(p, 33, rd.b, rd.n);
}

static void
expect_srv(const struct pkt *p, int rc, const char *target, uint16_t port)
{
	char t[256] = "";
	uint16_t got = 0;

	assert_int_equal(mr_fed_srv_parse(p->b, p->n, t, &got), rc);
	if (rc == 0) {
		assert_string_equal(t, target);
		assert_int_equal(got, port);
	}
}

static void
test_srv_parse(void **state)
{
	struct pkt p;
	struct pkt rd;
	static const unsigned char loop_name[] = {
		0, 1, 0, 1, 0x01, 0xbb, 0xc0, 0x00 /* patched below */
	};
	unsigned char rdata[16];

	(void)state;
	pkt_start(&p, 0, 1);
	pkt_srv(&p, 10, 5, 8448, "matrix.example.org");
	expect_srv(&p, 0, "matrix.example.org", 8448);

	/* lowest priority, then highest weight */
	pkt_start(&p, 0, 3);
	pkt_srv(&p, 10, 50, 1, "a.example");
	pkt_srv(&p, 5, 1, 2, "b.example");
	pkt_srv(&p, 5, 9, 3, "c.example");
	expect_srv(&p, 0, "c.example", 3);

	/* equal priority and weight: the first */
	pkt_start(&p, 0, 2);
	pkt_srv(&p, 1, 1, 4, "first.example");
	pkt_srv(&p, 1, 1, 5, "second.example");
	expect_srv(&p, 0, "first.example", 4);

	/* "." alone: service decidedly not available */
	pkt_start(&p, 0, 1);
	pkt_srv(&p, 0, 0, 0, ".");
	expect_srv(&p, -1, NULL, 0);

	/* "." beside a real record is skipped, whatever its priority */
	pkt_start(&p, 0, 2);
	pkt_srv(&p, 0, 0, 443, ".");
	pkt_srv(&p, 10, 0, 8448, "real.example");
	expect_srv(&p, 0, "real.example", 8448);

	/* port 0 and a target outside dns-name are unusable */
	pkt_start(&p, 0, 2);
	pkt_srv(&p, 0, 0, 0, "zero.example");
	pkt_srv(&p, 0, 0, 443, "bad_name.example");
	expect_srv(&p, -1, NULL, 0);

	/* a compressed target pointing into the question */
	rd.n = 0;
	put16(&rd, 0);
	put16(&rd, 0);
	put16(&rd, 443);
	put_name(&rd, "srv");
	rd.n--;			/* drop the root, point at "example.org" */
	put16(&rd, 0xc000 | EXAMPLE_ORG_OFF);
	pkt_start(&p, 0, 1);
	pkt_rr(&p, 33, rd.b, rd.n);
	expect_srv(&p, 0, "srv.example.org", 443);

	/* a compression loop */
	memcpy(rdata, loop_name, sizeof(loop_name));
	pkt_start(&p, 0, 1);
	rdata[7] = (unsigned char)(p.n + 12 + 6);	/* points at itself */
	pkt_rr(&p, 33, rdata, sizeof(loop_name));
	expect_srv(&p, -1, NULL, 0);

	/* NXDOMAIN */
	pkt_start(&p, 3, 0);
	expect_srv(&p, -1, NULL, 0);
	/* NOERROR, no answers */
	pkt_start(&p, 0, 0);
	expect_srv(&p, -1, NULL, 0);
	/* a CNAME alone is not followed */
	rd.n = 0;
	put_name(&rd, "other.example.org");
	pkt_start(&p, 0, 1);
	pkt_rr(&p, 5, rd.b, rd.n);
	expect_srv(&p, -1, NULL, 0);
	/* a CNAME then the SRV of its target, as a recursive resolver sends */
	pkt_start(&p, 0, 2);
	pkt_rr(&p, 5, rd.b, rd.n);
	pkt_srv(&p, 0, 0, 443, "viacname.example");
	expect_srv(&p, 0, "viacname.example", 443);

	/* rdata too short for priority, weight, port and a name */
	pkt_start(&p, 0, 1);
	pkt_rr(&p, 33, "\0\0\0\0\1", 5);
	expect_srv(&p, -1, NULL, 0);
	/* the message cut inside the record */
	pkt_start(&p, 0, 1);
	pkt_srv(&p, 0, 0, 443, "cut.example");
	p.n -= 4;
	expect_srv(&p, -1, NULL, 0);
	/* more answers claimed than present */
	pkt_start(&p, 0, 2);
	pkt_srv(&p, 0, 0, 443, "one.example");
	expect_srv(&p, -1, NULL, 0);
	/* nothing like DNS */
	p.n = 5;
	memcpy(p.b, "hello", 5);
	expect_srv(&p, -1, NULL, 0);
	p.n = 0;
	expect_srv(&p, -1, NULL, 0);
}

/* No network here: the lookup must fail, and fail quickly. */
static void
test_srv_lookup_gives_up(void **state)
{
	char target[256];
	uint16_t port;
	int64_t start = mr_mono_ms();

	(void)state;
	assert_int_equal(mr_fed_srv_lookup(NULL, "_matrix-fed._tcp.invalid",
	    target, &port), -1);
	if (mr_mono_ms() - start > 4000)
		fail_msg("lookup took %lld ms",
		    (long long)(mr_mono_ms() - start));
	assert_int_equal(mr_fed_srv_lookup(NULL, NULL, target, &port), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_table),
		cmocka_unit_test(test_discover_invalid),
		cmocka_unit_test(test_discover_no_resolver),
		cmocka_unit_test(test_discover_long_name),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_well_known_body),
		cmocka_unit_test(test_well_known_lifetime),
		cmocka_unit_test(test_well_known_error_lifetime),
		cmocka_unit_test(test_srv_parse),
		cmocka_unit_test(test_srv_lookup_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
