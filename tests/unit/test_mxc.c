/*
 * test_mxc: the server-name and media-id grammar of spec.md 2.2 as
 * valid/invalid tables, the mxc:// parser and id generation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../common/mxc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* A heap string of n copies of c followed by tail; the caller frees. */
static char *
repeat(char c, size_t n, const char *tail)
{
	size_t tl = strlen(tail);
	char *s = malloc(n + tl + 1);

	assert_non_null(s);
	memset(s, c, n);
	memcpy(s + n, tail, tl + 1);
	return s;
}

/* --- server names --- */

static void
test_server_name_valid(void **state)
{
	static const char *const valids[] = {
		/* the spec's own examples */
		"matrix.org",
		"matrix.org:8888",
		"1.2.3.4",
		"1.2.3.4:1234",
		"[1234:5678::abcd]",
		"[1234:5678::abcd]:5678",
		/* dns-name */
		"localhost",
		"a",
		"example.com:443",
		"example.com:65535",
		"example.com:0",		/* port = 1*5DIGIT */
		"example.com:1",
		"xn--bcher-kva.example",
		"my-server.example.org",
		"Matrix.ORG",			/* upper case: not recommended, valid */
		"LOCALHOST:18210",
		"-",
		"a-.-b",
		/* A numeric label is fine where it is not the last one. */
		"1.2.3.example",
		"0x7f.example",
		"example.123a",			/* ends in a letter */
		"example.0xg",			/* not hex: a name */
		"deadbeef",			/* hex without 0x is a name */
		/* IPv4: the one spelling, no leading zeros */
		"0.0.0.0",
		"255.255.255.255",
		"127.0.0.1",
		"127.0.0.1:8448",
		"10.0.100.200",
		/* IPv6: RFC 5952 only */
		"[::]",
		"[::1]",
		"[::1]:8448",
		"[::1]:65535",
		"[1::]",
		"[fe80::1]",
		"[2001:db8::1]",
		"[2001:db8::2:1]",
		"[2001:db8:0:1:1:1:1:1]",	/* one zero group is not "::" */
		"[2001:0:0:1::1]",		/* the longest run is "::" */
		"[1:0:0:2::]",
		"[1::2:0:0:3]",
		"[1::2:0:0:3:4]",		/* of equal runs, the first */
		"[2001:db8::1:0:0:1]",
		"[1::2:0:0:0]",
		"[1:2:3:4:5:6:7:8]",
		"[1:2:3:4:5:6:7:0]",
		"[0:1:2:3:4:5:6:7]",
		"[0:2:3:4:5:6:7:8]",
		"[1:2:3:4:5:6::]",
		"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]",
		"[::7f00:1]",			/* IPv4-compatible: not routed as v4 */
		"[::fffe:7f00:1]",
		"[::1:ffff:7f00:1]",
		"[64:ff9b::7f00:1]",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++)
		if (mr_mxc_valid_server_name(valids[i]) != 1)
			fail_msg("refused valid server name '%s'", valids[i]);

	/* The longest dns-name, alone and with the longest port. */
	s = repeat('a', 255, "");
	assert_int_equal(mr_mxc_valid_server_name(s), 1);
	free(s);
	s = repeat('a', 255, ":65535");
	assert_int_equal(mr_mxc_valid_server_name(s), 1);
	free(s);
}

static void
test_server_name_invalid(void **state)
{
	static const char *const invalids[] = {
		"",
		":",
		":8448",
		" ",
		"a b",
		" matrix.org",
		"matrix.org ",
		"matrix.org\n",
		"matrix.org\r\nX: y",
		"a/b",
		"../etc",
		"a\\b",
		"%2F",
		"a%2Fb",
		"%2e%2e",
		"matrix_org",			/* '_' is not a dns-char */
		"a@b",
		"a?b",
		"a#b",
		"user:pass@host",
		"m\xc3\xa4trix.org",		/* non-ASCII */
		"matrix.org\xc0\xae",
		/* ports */
		"matrix.org:",
		"matrix.org:65536",
		"matrix.org:99999",
		"matrix.org:123456",
		"matrix.org:80a",
		"matrix.org:a80",
		"matrix.org:8o",
		"matrix.org:-1",
		"matrix.org:+80",
		"matrix.org: 80",
		"matrix.org:80 ",
		"matrix.org:0x50",
		"a:1:2",
		"matrix.org::80",
		/* IPv6 */
		"::1",
		"[::1",
		"::1]",
		"[::1]:",
		"[::1]x",
		"[::1]:65536",
		"[::1]:http",
		"[::1]]",
		"[[::1]]",
		"[]",
		"[:]",
		"[:::]",
		"[:1]",
		"[1:]",
		"[1:2:3:4:5:6:7:]",
		"[:1:2:3:4:5:6:7]",
		"[1:2:3:4:5:6:7]",
		"[1:2:3:4:5:6:7:8:9]",
		"[1:2:3:4:5:6:7::8]",
		"[1::2::3]",
		"[12345::]",
		"[::g]",
		"[::1%eth0]",
		"[1.2.3.4]",
		"[1.2.3.4::]",
		"[::1.2.3.256]",
		"[::1.2.3]",
		"[1:2:3:4:5:6:7:1.2.3.4]",
		"[matrix.org]",
		"[::1] ",
		"[ ::1]",
		/* dns-names with an empty label: "a." is "a" to DNS */
		".",
		"..",
		"a.",
		"a.:80",
		".a",
		"a..b",
		"localhost.:18210",
	};
	/*
	 * Other spellings of a server that a byte comparison with a block
	 * list would miss (issue 10): refused, never rewritten.
	 */
	static const char *const non_canonical[] = {
		/* ports with leading zeros */
		"example.com:00080",
		"example.com:08448",
		"example.com:00",
		"[::1]:08448",
		"1.2.3.4:01234",
		/* IPv4 with leading zeros, or not four decimal parts */
		"127.000.000.001",
		"127.000.000.001:18210",
		"010.001.000.001",
		"0177.0.0.1",
		"127.0.0.01",
		"00.0.0.0",
		"127.1",
		"127.0.1",
		"1.2.3",
		"12345",
		"2130706433",
		"2130706433:80",
		"0",
		"1.2.3.4.5",
		"1.2.3.256",
		"999.999.999.999",
		"1.2.3.256:80",
		"1000.1.1.1",
		"0x7f.0.0.1",
		"0x7f000001",
		"0X7F000001",
		"127.0.0.0x1",
		"example.0x1f",
		"example.123",
		"a.b.0x",
		/* IPv4-mapped IPv6, in every form */
		"[::ffff:127.0.0.1]",
		"[::ffff:127.0.0.1]:18210",
		"[::FFFF:127.0.0.1]:18210",
		"[::ffff:7f00:1]",
		"[::ffff:7f00:1]:18210",
		"[0:0:0:0:0:ffff:7f00:1]",
		"[::ffff:1.2.3.4]",
		"[::ffff:0:0]",
		/* IPv6 not in RFC 5952 text */
		"[2001:DB8::1]",
		"[FE80::1]",
		"[::A]",
		"[0::1]",
		"[::01]",
		"[::0001]",
		"[2001:db8:0:0:0:0:2:1]",
		"[2001:db8::0:1]",
		"[0000:0000:0000:0000:0000:0000:0000:0001]",
		"[2001::1:0:0:0:1]",		/* the longest run is "::" */
		"[1::2:0:0:0:0]",
		"[1:0:0:2:0:0::]",
		"[1:0:0:2::3:4]",		/* of equal runs, the first */
		"[2001:db8:0:0:1::1]",
		"[1:0:0:0:2::]",
		"[1:2:3:4:5:6:7::]",		/* "::" for a single zero group */
		"[::2:3:4:5:6:7:8]",
		"[::2:3:4:5:6:7:8:9]",
		"[1:2:3:4:5:6::0]",
		"[::1.2.3.4]",			/* dotted tails: not RFC 5952 */
		"[1:2:3:4:5:6:1.2.3.4]",
		"[64:ff9b::127.0.0.1]",
		"[::0.0.0.1]",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_mxc_valid_server_name(invalids[i]) != 0)
			fail_msg("accepted invalid server name '%s'", invalids[i]);
	for (size_t i = 0; i < NELEM(non_canonical); i++)
		if (mr_mxc_valid_server_name(non_canonical[i]) != 0)
			fail_msg("accepted non-canonical server name '%s'",
			    non_canonical[i]);
	assert_int_equal(mr_mxc_valid_server_name(NULL), 0);

	/* Over-long: a dns-name of 256, and names past MR_SERVER_NAME_MAX. */
	s = repeat('a', 256, "");
	assert_int_equal(mr_mxc_valid_server_name(s), 0);
	free(s);
	s = repeat('a', 256, ":1");
	assert_int_equal(mr_mxc_valid_server_name(s), 0);
	free(s);
	s = repeat('a', MR_SERVER_NAME_MAX + 1, "");
	assert_int_equal(mr_mxc_valid_server_name(s), 0);
	free(s);
	s = repeat('a', 100000, "");
	assert_int_equal(mr_mxc_valid_server_name(s), 0);
	free(s);
	s = repeat(':', 40, "");
	s[0] = '[';
	assert_int_equal(mr_mxc_valid_server_name(s), 0);
	free(s);
}

/* --- comparing names --- */

static void
test_same_server(void **state)
{
	static const struct {
		const char *a, *b;
		int same;
	} cases[] = {
		{ "peer.test", "peer.test", 1 },
		{ "PEER.TEST", "peer.test", 1 },
		{ "Peer.Test:8448", "pEER.tEST:8448", 1 },
		{ "LOCALHOST:18210", "localhost:18210", 1 },
		{ "[::1]:8448", "[::1]:8448", 1 },
		{ "127.0.0.1:1", "127.0.0.1:1", 1 },
		/* the port is part of the name, and exact */
		{ "peer.test", "peer.test:8448", 0 },
		{ "peer.test:8448", "peer.test:8449", 0 },
		{ "peer.test:1", "peer.test:11", 0 },
		{ "peer.test", "peer.tes", 0 },
		{ "peer.test", "peer.tesu", 0 },
		{ "a-b", "a_b", 0 },
		/* only ASCII letters fold: '@' and '`' are not 'A'-1/'a'-1 */
		{ "a@", "a`", 0 },
		{ "a[", "a{", 0 },
		{ "", "", 1 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *a = cases[i].a, *b = cases[i].b;

		if (mr_mxc_same_server(a, strlen(a), b, strlen(b)) !=
		    cases[i].same ||
		    mr_mxc_same_server(b, strlen(b), a, strlen(a)) !=
		    cases[i].same)
			fail_msg("'%s' vs '%s': want %d", a, b, cases[i].same);
	}
	/* Lengths bound the comparison: a list entry is not NUL-terminated. */
	assert_int_equal(mr_mxc_same_server("PEER.TEST, other", 9, "peer.test",
	    9), 1);
	assert_int_equal(mr_mxc_same_server("PEER.TEST, other", 10,
	    "peer.test", 9), 0);
}

/* --- media ids --- */

static void
test_media_id(void **state)
{
	static const char *const valids[] = {
		"a",
		"Z",
		"0",
		"-",
		"_",
		"AQwafuaFswefuhsfAFAgsw",
		"abc_DEF-123",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
	};
	static const char *const invalids[] = {
		"",
		".",
		"..",
		"a.b",
		"a/b",
		"/",
		"../../../some_service/etc/passwd",
		"a\\b",
		"a b",
		" a",
		"a\n",
		"a\t",
		"a%2Fb",
		"%2e%2e",
		"a+b",
		"abc=",			/* padded base64 is not the alphabet */
		"a:b",
		"a?b",
		"a#b",
		"a~b",
		"\xc3\xa9",
		"caf\xc3\xa9",
		"\xf0\x9f\x90\x94",
		"\xef\xbc\x8e\xef\xbc\x8e",	/* fullwidth full stops */
		"\xc0\xae\xc0\xae",	/* overlong ".." */
		"a\x7f",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++)
		if (mr_mxc_valid_media_id(valids[i]) != 1)
			fail_msg("refused valid media id '%s'", valids[i]);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_mxc_valid_media_id(invalids[i]) != 0)
			fail_msg("accepted invalid media id '%s'", invalids[i]);
	assert_int_equal(mr_mxc_valid_media_id(NULL), 0);

	s = repeat('x', MR_MEDIA_ID_MAX, "");
	assert_int_equal(mr_mxc_valid_media_id(s), 1);
	free(s);
	s = repeat('x', MR_MEDIA_ID_MAX + 1, "");
	assert_int_equal(mr_mxc_valid_media_id(s), 0);
	free(s);
	s = repeat('x', 100000, "");
	assert_int_equal(mr_mxc_valid_media_id(s), 0);
	free(s);
	/* A bad byte after the limit is not what makes it fail. */
	s = repeat('x', MR_MEDIA_ID_MAX - 1, ".");
	assert_int_equal(mr_mxc_valid_media_id(s), 0);
	free(s);
}

/* --- from_parts --- */

static void
test_from_parts(void **state)
{
	struct mr_mxc m;
	struct mr_err err;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(mr_mxc_from_parts("[::1]:8448", "abc_-9", &m, &err), 0);
	assert_string_equal(m.server, "[::1]:8448");
	assert_string_equal(m.id, "abc_-9");

	/* err says which part was wrong. */
	mr_err_clear(&err);
	assert_int_equal(mr_mxc_from_parts("a/b", "abc", &m, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.errcode, "M_INVALID_PARAM");
	assert_non_null(strstr(err.msg, "server"));

	mr_err_clear(&err);
	assert_int_equal(mr_mxc_from_parts("matrix.org", "..", &m, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.errcode, "M_INVALID_PARAM");
	assert_non_null(strstr(err.msg, "id"));
	assert_null(strstr(err.msg, "server"));
}

/* --- mr_mxc_parse_uri --- */

static void
test_parse_uri(void **state)
{
	static const struct {
		const char *uri, *server, *id;
	} valids[] = {
		{ "mxc://matrix.org/AQwafuaFswefuhsfAFAgsw", "matrix.org",
		  "AQwafuaFswefuhsfAFAgsw" },
		{ "mxc://matrix.org:8448/a", "matrix.org:8448", "a" },
		{ "mxc://1.2.3.4:1234/x_y-z", "1.2.3.4:1234", "x_y-z" },
		{ "mxc://[1234:5678::abcd]:5678/id", "[1234:5678::abcd]:5678", "id" },
		{ "mxc://[::1]/-", "[::1]", "-" },
		/* Case is kept as written; comparisons ignore it. */
		{ "mxc://PEER.TEST/x", "PEER.TEST", "x" },
	};
	static const char *const invalids[] = {
		"",
		"mxc",
		"mxc:",
		"mxc:/",
		"mxc://",
		"mxc:///",
		"mxc:///abc",
		"mxc://matrix.org",
		"mxc://matrix.org/",
		"mxc://matrix.org//abc",
		"mxc://matrix.org/a/b",
		"mxc://matrix.org/abc/",
		"mxc://matrix.org/../x",
		"mxc://127.0.0.1/../../../some_service/etc/passwd",
		"mxc://matrix.org/abc?x=1",
		"mxc://matrix.org/abc#frag",
		"mxc://matrix.org/a%2Fb",
		"mxc://a b/c",
		"mxc://a/b c",
		"mxc://user@matrix.org/abc",
		"mxc:matrix.org/abc",
		" mxc://matrix.org/abc",
		"https://matrix.org/abc",
		"mxc:/matrix.org/abc",
		"mxc://matrix.org:99999/abc",
		"mxc://[::1/abc",
		"mxc://127.000.000.001:18210/abc",
		"mxc://[::ffff:127.0.0.1]:18210/abc",
		"mxc://127.1/abc",
		"mxc://peer.test./abc",
	};
	struct mr_mxc m;
	struct mr_err err;
	char *uri;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		memset(&m, 0, sizeof(m));
		if (mr_mxc_parse_uri(valids[i].uri, &m, &err) != 0)
			fail_msg("refused '%s': %s", valids[i].uri, err.msg);
		assert_string_equal(m.server, valids[i].server);
		assert_string_equal(m.id, valids[i].id);
	}
	for (size_t i = 0; i < NELEM(invalids); i++) {
		mr_err_clear(&err);
		if (mr_mxc_parse_uri(invalids[i], &m, &err) != -1)
			fail_msg("accepted invalid mxc uri '%s'", invalids[i]);
		if (err.status != 400 || err.errcode == NULL ||
		    strcmp(err.errcode, "M_INVALID_PARAM") != 0)
			fail_msg("'%s': want 400 M_INVALID_PARAM, got %d", invalids[i],
			    err.status);
	}

	/* Server parts around the buffer size: refused, nothing overflows. */
	for (size_t n = MR_SERVER_NAME_MAX - 2; n < MR_SERVER_NAME_MAX + 3; n++) {
		char *server = repeat('a', n, "");

		uri = malloc(n + 16);
		assert_non_null(uri);
		snprintf(uri, n + 16, "mxc://%s/abc", server);
		assert_int_equal(mr_mxc_parse_uri(uri, &m, &err), -1);
		free(uri);
		free(server);
	}
	/* The longest valid name fits the struct. */
	{
		char *server = repeat('a', 255, ":65535");

		uri = malloc(300);
		assert_non_null(uri);
		snprintf(uri, 300, "mxc://%s/abc", server);
		assert_int_equal(mr_mxc_parse_uri(uri, &m, &err), 0);
		assert_string_equal(m.server, server);
		free(uri);
		free(server);
	}
}

/* --- generate and format --- */

static void
test_generate(void **state)
{
	struct mr_mxc a, b;
	char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	struct mr_mxc back;
	struct mr_err err;

	(void)state;
	for (int n = 0; n < 200; n++) {
		memset(&a, 0, sizeof(a));
		mr_mxc_generate("example.org", &a);
		assert_string_equal(a.server, "example.org");
		assert_true(strlen(a.id) >= 24);
		for (const char *p = a.id; *p != '\0'; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
				fail_msg("generated id '%s' has byte 0x%02x", a.id,
				    (unsigned char)*p);
		assert_int_equal(mr_mxc_valid_media_id(a.id), 1);
	}
	mr_mxc_generate("example.org", &a);
	mr_mxc_generate("example.org", &b);
	assert_string_not_equal(a.id, b.id);

	/* format and parse are inverses. */
	assert_int_equal(mr_mxc_format(&a, uri, sizeof(uri)), 0);
	assert_int_equal(strncmp(uri, "mxc://example.org/", 18), 0);
	assert_string_equal(uri + 18, a.id);
	assert_int_equal(mr_mxc_parse_uri(uri, &back, &err), 0);
	assert_string_equal(back.server, a.server);
	assert_string_equal(back.id, a.id);
}

static void
test_format_sizes(void **state)
{
	struct mr_mxc m;
	char buf[64];

	(void)state;
	assert_int_equal(mr_mxc_from_parts("a.b", "xyz", &m, NULL), 0);
	/* "mxc://a.b/xyz" is 13 characters: 14 bytes fit, 13 do not. */
	assert_int_equal(mr_mxc_format(&m, buf, 14), 0);
	assert_string_equal(buf, "mxc://a.b/xyz");
	assert_int_equal(mr_mxc_format(&m, buf, 13), -1);
	assert_int_equal(mr_mxc_format(&m, buf, 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_name_valid),
		cmocka_unit_test(test_server_name_invalid),
		cmocka_unit_test(test_same_server),
		cmocka_unit_test(test_media_id),
		cmocka_unit_test(test_from_parts),
		cmocka_unit_test(test_parse_uri),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_format_sizes),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
