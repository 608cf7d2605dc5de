/*
 * test_util: the error record and the pure helpers of common/util.c, with
 * valid/invalid tables of hostile input (kcgi regress style).
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

#include "../../common/util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* --- mr_err --- */

static void
test_err_set_and_clear(void **state)
{
	struct mr_err err;
	char longarg[600];

	(void)state;
	assert_int_equal(mr_err_set(&err, 413, "M_TOO_LARGE", "limit %d", 5), -1);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.errcode, "M_TOO_LARGE");
	assert_string_equal(err.msg, "limit 5");

	/* A message longer than the record is cut, still terminated. */
	memset(longarg, 'x', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	mr_err_set(&err, 500, "M_UNKNOWN", "%s", longarg);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);

	mr_err_clear(&err);
	assert_int_equal(err.status, 0);
	assert_null(err.errcode);
	assert_string_equal(err.msg, "");

	/* A NULL record is allowed: the caller only wants the -1. */
	assert_int_equal(mr_err_set(NULL, 400, "M_X", "x"), -1);
}

static void
test_clocks(void **state)
{
	(void)state;
	/* 2020-01-01 in ms: a clock in seconds or microseconds would fail. */
	assert_true(mr_now_ms() > INT64_C(1577836800000));
	assert_true(mr_now_ms() < INT64_C(1577836800000) * 10);
	assert_true(mr_mono_ms() >= 0);
}

/* --- mr_parse_int64 --- */

static void
test_parse_int64(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} valids[] = {
		{ "0", 0 },
		{ "-0", 0 },
		{ "7", 7 },
		{ "007", 7 },
		{ "42", 42 },
		{ "-42", -42 },
		{ "9007199254740992", INT64_C(9007199254740992) },
		{ "-9007199254740992", -INT64_C(9007199254740992) },
		{ "4611686018427387904", INT64_C(4611686018427387904) },
	};
	static const char *const invalids[] = {
		"", "-", "+", "+1", " 1", "1 ", "\t1", "1\n", "1a", "a1", "0x10",
		"1.5", "1e3", "--1", "-+1", "1-", "1,000", "١",	/* Arabic-Indic 1 */
		"9223372036854775808",		/* INT64_MAX + 1 */
		"-9223372036854775809",		/* INT64_MIN - 1 */
		"18446744073709551616",		/* 2^64: wraps a careless parser */
		"99999999999999999999999999999",
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		v = -1;
		if (mr_parse_int64(valids[i].s, INT64_MIN, INT64_MAX, &v) != 0)
			fail_msg("refused valid '%s'", valids[i].s);
		if (v != valids[i].v)
			fail_msg("'%s' gave %lld", valids[i].s, (long long)v);
	}
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_parse_int64(invalids[i], INT64_MIN, INT64_MAX, &v) == 0)
			fail_msg("accepted invalid '%s' as %lld", invalids[i],
			    (long long)v);
	assert_int_equal(mr_parse_int64(NULL, 0, 10, &v), -1);

	/* The range is inclusive at both ends. */
	assert_int_equal(mr_parse_int64("4", 0, 4, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(mr_parse_int64("0", 0, 4, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mr_parse_int64("5", 0, 4, &v), -1);
	assert_int_equal(mr_parse_int64("-1", 0, 4, &v), -1);
	assert_int_equal(mr_parse_int64("-5", -5, -1, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(mr_parse_int64("0", -5, -1, &v), -1);
}

/* --- mr_parse_size --- */

static void
test_parse_size(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} valids[] = {
		{ "0", 0 },
		{ "1048576", 1048576 },
		{ "50M", INT64_C(50) << 20 },
		{ "50m", INT64_C(50) << 20 },
		{ "50MB", INT64_C(50) << 20 },
		{ "50mb", INT64_C(50) << 20 },
		{ "50Mb", INT64_C(50) << 20 },
		{ "512K", INT64_C(512) << 10 },
		{ "512k", INT64_C(512) << 10 },
		{ "512KB", INT64_C(512) << 10 },
		{ "1G", INT64_C(1) << 30 },
		{ "1g", INT64_C(1) << 30 },
		{ "3GB", INT64_C(3) << 30 },
		{ "1T", INT64_C(1) << 40 },
		{ "100M", INT64_C(100) << 20 },
	};
	static const char *const invalids[] = {
		"", "M", "K", "MB", "-1", "-1M", "+1M", "1.5M", "50X", "50B",
		"50 M", " 50M", "50M ", "50MBB", "50MiB", "50Mx", "50KM", "0x10",
		"50M\n", "5O", "9999999999T", "99999999999999999999999",
		"99999999999999999999999999999999999999M",
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		v = -1;
		if (mr_parse_size(valids[i].s, &v) != 0)
			fail_msg("refused valid size '%s'", valids[i].s);
		if (v != valids[i].v)
			fail_msg("'%s' gave %lld", valids[i].s, (long long)v);
	}
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_parse_size(invalids[i], &v) == 0)
			fail_msg("accepted invalid size '%s' as %lld", invalids[i],
			    (long long)v);
	assert_int_equal(mr_parse_size(NULL, &v), -1);
}

/* --- mr_parse_duration_ms --- */

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} valids[] = {
		{ "0", 0 },
		{ "1500", 1500 },
		{ "500ms", 500 },
		{ "10s", 10000 },
		{ "30m", 1800000 },
		{ "24h", 86400000 },
		{ "7d", 604800000 },
		{ "1d", 86400000 },
		{ "2w", 2 * INT64_C(604800000) },
		{ "1y", INT64_C(31536000000) },
		{ "60s", 60000 },
	};
	static const char *const invalids[] = {
		"", "h", "ms", "-5s", "+5s", "1.5h", "10x", "10 s", " 10s", "10s ",
		"10sec", "10mss", "10hh", "10smin", "10\n", "0x10s",
		"9999999999999999y", "99999999999999999999999",
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		v = -1;
		if (mr_parse_duration_ms(valids[i].s, &v) != 0)
			fail_msg("refused valid duration '%s'", valids[i].s);
		if (v != valids[i].v)
			fail_msg("'%s' gave %lld", valids[i].s, (long long)v);
	}
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_parse_duration_ms(invalids[i], &v) == 0)
			fail_msg("accepted invalid duration '%s' as %lld",
			    invalids[i], (long long)v);
	assert_int_equal(mr_parse_duration_ms(NULL, &v), -1);
}

/* --- mr_parse_bool --- */

static void
test_parse_bool(void **state)
{
	static const struct {
		const char *s;
		int v;
	} valids[] = {
		{ "true", 1 }, { "TRUE", 1 }, { "True", 1 }, { "yes", 1 },
		{ "YES", 1 }, { "on", 1 }, { "On", 1 }, { "1", 1 },
		{ "false", 0 }, { "FALSE", 0 }, { "no", 0 }, { "No", 0 },
		{ "off", 0 }, { "OFF", 0 }, { "0", 0 },
	};
	static const char *const invalids[] = {
		"", "2", "-1", "01", "00", "tru", "truex", "yes ", " no", "y", "n",
		"t", "f", "enable", "disabled", "true\n", "nope", "of",
	};
	int v;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		v = -1;
		if (mr_parse_bool(valids[i].s, &v) != 0)
			fail_msg("refused valid bool '%s'", valids[i].s);
		if (v != valids[i].v)
			fail_msg("'%s' gave %d", valids[i].s, v);
	}
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_parse_bool(invalids[i], &v) == 0)
			fail_msg("accepted invalid bool '%s'", invalids[i]);
	assert_int_equal(mr_parse_bool(NULL, &v), -1);
}

/* --- mr_utf8_valid --- */

struct bytes {
	const char *s;
	size_t len;
	const char *what;
};
#define B(lit, what) { lit, sizeof(lit) - 1, what }

static void
test_utf8_valid(void **state)
{
	static const struct bytes valids[] = {
		B("", "empty"),
		B("abc", "ascii"),
		B("\x7f", "DEL is valid UTF-8"),
		B("\xc2\x80", "U+0080, smallest 2-byte"),
		B("\xc3\xa9", "e acute"),
		B("\xdf\xbf", "U+07FF, largest 2-byte"),
		B("\xe0\xa0\x80", "U+0800, smallest 3-byte"),
		B("\xe2\x82\xac", "euro sign"),
		B("\xed\x9f\xbf", "U+D7FF, just below the surrogates"),
		B("\xee\x80\x80", "U+E000, just above the surrogates"),
		B("\xef\xbf\xbf", "U+FFFF"),
		B("\xf0\x90\x80\x80", "U+10000, smallest 4-byte"),
		B("\xf0\x9f\x90\x94", "chicken emoji"),
		B("\xf4\x8f\xbf\xbf", "U+10FFFF, largest code point"),
		B("caf\xc3\xa9 \xf0\x9f\x90\x94!", "mixed"),
	};
	static const struct bytes invalids[] = {
		B("\0", "NUL alone"),
		B("a\0b", "NUL inside"),
		B("abc\0", "NUL at end"),
		B("\xc0\x80", "overlong NUL (modified UTF-8)"),
		B("\xc0\xaf", "overlong '/'"),
		B("\xc1\xbf", "overlong 2-byte"),
		B("\xe0\x80\x80", "overlong 3-byte NUL"),
		B("\xe0\x80\xaf", "overlong 3-byte '/'"),
		B("\xe0\x9f\xbf", "overlong 3-byte U+07FF"),
		B("\xf0\x80\x80\x80", "overlong 4-byte NUL"),
		B("\xf0\x80\x80\xaf", "overlong 4-byte '/'"),
		B("\xf0\x8f\xbf\xbf", "overlong 4-byte U+FFFF"),
		B("\xed\xa0\x80", "surrogate U+D800"),
		B("\xed\xad\xbf", "surrogate U+DB7F"),
		B("\xed\xb0\x80", "surrogate U+DC00"),
		B("\xed\xbf\xbf", "surrogate U+DFFF"),
		B("\xed\xa0\xbd\xed\xb0\x94", "CESU-8 surrogate pair"),
		B("\xf4\x90\x80\x80", "U+110000"),
		B("\xf5\x80\x80\x80", "lead F5"),
		B("\xf7\xbf\xbf\xbf", "lead F7"),
		B("\xf8\x88\x80\x80\x80", "5-byte form"),
		B("\xfc\x84\x80\x80\x80\x80", "6-byte form"),
		B("\xfe", "byte FE"),
		B("\xff", "byte FF"),
		B("\x80", "lone continuation"),
		B("\xbf", "lone continuation BF"),
		B("a\x80" "b", "continuation between ASCII"),
		B("\xc3", "truncated 2-byte"),
		B("\xe2\x82", "truncated 3-byte"),
		B("\xe2", "truncated 3-byte, lead only"),
		B("\xf0\x9f\x90", "truncated 4-byte"),
		B("abc\xf0\x9f", "truncated at the end"),
		B("\xc3\x28", "bad continuation"),
		B("\xe2\x28\xa1", "bad first continuation"),
		B("\xe2\x82\x28", "bad second continuation"),
		B("\xf0\x9f\x90\x28", "bad third continuation"),
		B("\xc3\x00", "NUL as continuation"),
		B("\xc3\xc3\xa9", "lead where a continuation belongs"),
	};

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++)
		if (mr_utf8_valid(valids[i].s, valids[i].len) != 1)
			fail_msg("refused valid UTF-8: %s", valids[i].what);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_utf8_valid(invalids[i].s, invalids[i].len) != 0)
			fail_msg("accepted invalid UTF-8: %s", invalids[i].what);
}

/* The length is the whole buffer: a sequence cut by len is truncated. */
static void
test_utf8_respects_len(void **state)
{
	char *buf;

	(void)state;
	/* Exactly sized heap copies: a read past len trips ASan. */
	buf = malloc(2);
	assert_non_null(buf);
	memcpy(buf, "\xc3\xa9", 2);
	assert_int_equal(mr_utf8_valid(buf, 2), 1);
	assert_int_equal(mr_utf8_valid(buf, 1), 0);
	assert_int_equal(mr_utf8_valid(buf, 0), 1);
	free(buf);

	buf = malloc(4);
	assert_non_null(buf);
	memcpy(buf, "\xf0\x9f\x90\x94", 4);
	assert_int_equal(mr_utf8_valid(buf, 4), 1);
	assert_int_equal(mr_utf8_valid(buf, 3), 0);
	assert_int_equal(mr_utf8_valid(buf, 2), 0);
	free(buf);

	/* Bytes after len are not looked at. */
	assert_int_equal(mr_utf8_valid("ab\xff", 2), 1);
}

/* --- hex --- */

static void
test_hex_encode(void **state)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(in) + 1 + 4];

	(void)state;
	memset(out, 'X', sizeof(out));
	mr_hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	/* Writes 2n + 1 bytes and not one more. */
	assert_int_equal(out[2 * sizeof(in) + 1], 'X');

	memset(out, 'X', sizeof(out));
	mr_hex_encode(in, 0, out);
	assert_string_equal(out, "");
	assert_int_equal(out[1], 'X');
}

static void
test_is_lower_hex(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		int want;
	} cases[] = {
		{ "", 0, 1 },
		{ "0123456789abcdef", 16, 1 },
		{ "00", 2, 1 },
		{ "ABCDEF", 6, 0 },
		{ "abcdeF", 6, 0 },
		{ "abc", 4, 0 },	/* shorter than len */
		{ "abcd", 3, 0 },	/* longer than len */
		{ "abcg", 4, 0 },
		{ "ab d", 4, 0 },
		{ "../a", 4, 0 },
		{ "ab/c", 4, 0 },
		{ "0x12", 4, 0 },
		{ "-1", 2, 0 },
		{ "\xc3\xa9", 2, 0 },
		{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  64, 1 },
		{ "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		  64, 0 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		if (mr_is_lower_hex(cases[i].s, cases[i].len) != cases[i].want)
			fail_msg("mr_is_lower_hex('%s', %zu) != %d", cases[i].s,
			    cases[i].len, cases[i].want);
}

/* --- mr_random_id --- */

static void
test_random_id(void **state)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	int seen[256] = { 0 };
	char a[40], b[40];

	(void)state;
	/* 2000 ids of 32: each of the 64 symbols is all but certain to show. */
	for (int n = 0; n < 2000; n++) {
		memset(a, 'X' | 0x80, sizeof(a));
		mr_random_id(a, 32);
		assert_int_equal(strlen(a), 32);
		for (size_t i = 0; i < 32; i++) {
			if (a[i] == '\0' || strchr(alphabet, a[i]) == NULL)
				fail_msg("byte 0x%02x outside the alphabet",
				    (unsigned char)a[i]);
			seen[(unsigned char)a[i]]++;
		}
		assert_int_equal((unsigned char)a[33], 'X' | 0x80);
	}
	for (const char *p = alphabet; *p != '\0'; p++)
		if (seen[(unsigned char)*p] == 0)
			fail_msg("symbol '%c' never drawn", *p);

	mr_random_id(a, 32);
	mr_random_id(b, 32);
	assert_string_not_equal(a, b);

	memset(a, 'X', sizeof(a));
	mr_random_id(a, 0);
	assert_string_equal(a, "");
	mr_random_id(a, 1);
	assert_int_equal(strlen(a), 1);
}

/* --- mr_skip_prefix_ci --- */

static void
test_skip_prefix_ci(void **state)
{
	static const struct {
		const char *s, *prefix;
		ptrdiff_t rest;		/* offset of the result, -1 for NULL */
	} cases[] = {
		{ "Bearer abc", "Bearer ", 7 },
		{ "bearer abc", "Bearer ", 7 },
		{ "BEARER abc", "bearer ", 7 },
		{ "bEaReR ", "Bearer ", 7 },
		{ "Bearer", "Bearer ", -1 },
		{ "Bear", "Bearer ", -1 },
		{ "", "Bearer ", -1 },
		{ "Basic abc", "Bearer ", -1 },
		{ " Bearer abc", "Bearer ", -1 },
		{ "bytes=0-1", "bytes=", 6 },
		{ "anything", "", 0 },
		{ "", "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *r = mr_skip_prefix_ci(cases[i].s, cases[i].prefix);

		if (cases[i].rest < 0 ? r != NULL : r != cases[i].s + cases[i].rest)
			fail_msg("mr_skip_prefix_ci('%s', '%s')", cases[i].s,
			    cases[i].prefix);
	}
}

/* --- mr_log_escape --- */

static void
test_log_escape_table(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "hello world", "hello world" },
		{ "/_matrix/media/v3/download/a/b", "/_matrix/media/v3/download/a/b" },
		{ "a\nb", "a\\x0ab" },
		{ "a\r\nGET / HTTP/1.1", "a\\x0d\\x0aGET / HTTP/1.1" },
		{ "\t", "\\x09" },
		{ "\x01\x1f", "\\x01\\x1f" },
		{ "\x7f", "\\x7f" },
		{ "\x1b[31mred", "\\x1b[31mred" },
		{ "back\\slash", "back\\x5cslash" },
		{ "\\x0a", "\\x5cx0a" },	/* cannot forge an escape */
		{ "caf\xc3\xa9", "caf\\xc3\\xa9" },
		{ "\xff", "\\xff" },
		{ "~ !\"#'", "~ !\"#'" },
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		mr_log_escape(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("escape of case %zu gave '%s', want '%s'", i, out,
			    cases[i].out);
	}
	mr_log_escape(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

/* Reverses the escape: \xNN to a byte. Returns -1 on a malformed escape. */
static int
unescape(const char *s, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned v;

		if (o + 1 >= outsz)
			return -1;
		if (*s != '\\') {
			out[o++] = *s;
			continue;
		}
		if (s[1] != 'x' || sscanf(s + 2, "%2x", &v) != 1)
			return -1;
		out[o++] = (char)v;
		s += 3;
	}
	out[o] = '\0';
	return 0;
}

/* Every byte: the output is printable ASCII and decodes to the input. */
static void
test_log_escape_every_byte(void **state)
{
	char in[4], out[32], back[8];

	(void)state;
	for (int c = 1; c < 256; c++) {
		snprintf(in, sizeof(in), "a%cb", c);
		mr_log_escape(in, out, sizeof(out));
		for (const char *p = out; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail_msg("byte 0x%02x left 0x%02x in the log line", c,
				    (unsigned char)*p);
		assert_int_equal(unescape(out, back, sizeof(back)), 0);
		if (strcmp(back, in) != 0)
			fail_msg("byte 0x%02x does not round-trip", c);
	}
}

static void
test_log_escape_truncation(void **state)
{
	char out[16];

	(void)state;
	memset(out, 'Z', sizeof(out));
	mr_log_escape("abcdef", out, 4);
	assert_string_equal(out, "abc");
	assert_int_equal(out[4], 'Z');

	memset(out, 'Z', sizeof(out));
	mr_log_escape("abcdef", out, 1);
	assert_string_equal(out, "");
	assert_int_equal(out[1], 'Z');

	/* outsz 0: nothing written at all. */
	memset(out, 'Z', sizeof(out));
	mr_log_escape("abcdef", out, 0);
	assert_int_equal(out[0], 'Z');

	/* An escape is never cut in half: it fits whole or not at all. */
	mr_log_escape("ab\n", out, 6);
	assert_string_equal(out, "ab");
	mr_log_escape("ab\n", out, 7);
	assert_string_equal(out, "ab\\x0a");
	mr_log_escape("ab\ncd", out, 8);
	assert_string_equal(out, "ab\\x0ac");

	/* Exactly fitting. */
	mr_log_escape("abcdef", out, 7);
	assert_string_equal(out, "abcdef");
}

/* Small heap buffers of every size: a write past outsz trips ASan. */
static void
test_log_escape_sizes(void **state)
{
	static const char *const inputs[] = {
		"plain text", "\n\n\n\n", "a\x01" "b\x02" "c", "\xf0\x9f\x90\x94",
	};

	(void)state;
	for (size_t i = 0; i < NELEM(inputs); i++) {
		for (size_t sz = 1; sz < 48; sz++) {
			char *out = malloc(sz);

			assert_non_null(out);
			mr_log_escape(inputs[i], out, sz);
			assert_true(strlen(out) < sz);
			free(out);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_clear),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_respects_len),
		cmocka_unit_test(test_hex_encode),
		cmocka_unit_test(test_is_lower_hex),
		cmocka_unit_test(test_random_id),
		cmocka_unit_test(test_skip_prefix_ci),
		cmocka_unit_test(test_log_escape_table),
		cmocka_unit_test(test_log_escape_every_byte),
		cmocka_unit_test(test_log_escape_truncation),
		cmocka_unit_test(test_log_escape_sizes),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
