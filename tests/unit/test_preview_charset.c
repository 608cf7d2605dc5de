/*
 * test_preview_charset: the charset choice and transcoding of a page on
 * its own, before any HTML parsing: which source wins (Content-Type, byte
 * order mark, <meta> prescan, UTF-8 check, windows-1252), and that
 * undecodable bytes become U+FFFD instead of ending the text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/preview_charset.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A literal and its length, NULs inside included. */
#define S(lit) lit, sizeof(lit) - 1

/* The n bytes at b as UTF-8; the caller frees the result. */
static char *
to_utf8(const char *b, size_t n, const char *ct)
{
	struct ph_buf out = { 0 };

	out.limit = n * 4 + 64;
	assert_int_equal(mr_preview_to_utf8(b, n, ct, &out), 0);
	assert_non_null(out.p);
	assert_int_equal(strlen(out.p), out.len);
	return out.p;
}

static const struct {
	const char *in;
	size_t len;
	const char *ct;
	const char *want;
} cases[] = {
	/* no hint: valid UTF-8 stays, anything else is windows-1252 */
	{ S("caf\xC3\xA9"), NULL, "caf\xC3\xA9" },
	{ S("caf\xE9 \x80"), NULL, "caf\xC3\xA9 \xE2\x82\xAC" },
	/* an incomplete sequence cut off at the end is still UTF-8 */
	{ S("ab\xC3"), NULL, "ab\xEF\xBF\xBD" },
	/* Content-Type wins over the <meta> */
	{ S("<meta charset=utf-8>\xE9"), "text/html; charset=iso-8859-1",
	    "<meta charset=utf-8>\xC3\xA9" },
	/* the <meta> prescan, both forms */
	{ S("<meta charset=\"windows-1251\">\xC0"), NULL,
	    "<meta charset=\"windows-1251\">\xD0\x90" },
	{ S("<meta http-equiv=Content-Type content=\"text/html; "
	    "charset=koi8-r\">\xE1"), "text/html",
	    "<meta http-equiv=Content-Type content=\"text/html; "
	    "charset=koi8-r\">\xD0\x90" },
	/* a <meta> that says utf-16 means UTF-8 (WHATWG) */
	{ S("<meta charset=utf-16>\xC3\xA9"), NULL,
	    "<meta charset=utf-16>\xC3\xA9" },
	/* byte order marks, dropped from the text */
	{ S("\xEF\xBB\xBFx"), NULL, "x" },
	{ S("\xFF\xFEh\0i\0"), NULL, "hi" },
	{ S("\xFE\xFF\0h\0i"), NULL, "hi" },
	/* an unknown label is skipped: the next step decides */
	{ S("\xE9 x"), "text/html; charset=no-such-charset", "\xC3\xA9 x" },
	/* bytes the charset cannot decode become U+FFFD, text goes on */
	{ S("a\xFF" "b"), "text/html; charset=utf-8", "a\xEF\xBF\xBD" "b" },
	{ S(""), NULL, "" },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		char *got = to_utf8(cases[i].in, cases[i].len, cases[i].ct);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, got,
			    cases[i].want);
		free(got);
	}
}

/* The prescan stops at MR_PREVIEW_PRESCAN_MAX: a later <meta> is not read. */
static void
test_prescan_bound(void **state)
{
	static const char meta[] = "<meta charset=windows-1251>\xC0";
	size_t pad = MR_PREVIEW_PRESCAN_MAX, n = pad + sizeof(meta) - 1;
	char *b = malloc(n), *got;

	(void)state;
	assert_non_null(b);
	memset(b, ' ', pad);
	memcpy(b + pad, meta, sizeof(meta) - 1);
	got = to_utf8(b, n, NULL);
	/* Not UTF-8, no <meta> seen: windows-1252, where 0xC0 is U+00C0. */
	assert_string_equal(got + pad, "<meta charset=windows-1251>\xC3\x80");
	free(got);
	memcpy(b, meta, sizeof(meta) - 1);
	got = to_utf8(b, n, NULL);
	assert_memory_equal(got, "<meta charset=windows-1251>\xD0\x90", 29);
	free(got);
	free(b);
}

/* out->limit bounds the text: what does not fit is dropped, not an error. */
static void
test_limit(void **state)
{
	struct ph_buf out = { 0 };
	char in[3000];

	(void)state;
	memset(in, 'x', sizeof(in));
	out.limit = 1000;
	assert_int_equal(mr_preview_to_utf8(in, sizeof(in), NULL, &out), 0);
	assert_true(out.len > 0 && out.len < 1000);
	assert_int_equal(strlen(out.p), out.len);
	free(out.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_prescan_bound),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
