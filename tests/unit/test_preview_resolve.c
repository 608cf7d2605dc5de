/*
 * test_preview_resolve: tables for RFC 3986 reference resolution (RFC 3986
 * 5.4's examples among them) and for data: URL decoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/preview_resolve.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- resolve_url --- */

static const struct {
	const char *base, *ref, *want;	/* want NULL: refused */
} resolves[] = {
	/* RFC 3986 5.4.1, with "g:h" refused for its scheme */
	{ "http://a/b/c/d;p?q", "g:h", NULL },
	{ "http://a/b/c/d;p?q", "g", "http://a/b/c/g" },
	{ "http://a/b/c/d;p?q", "./g", "http://a/b/c/g" },
	{ "http://a/b/c/d;p?q", "g/", "http://a/b/c/g/" },
	{ "http://a/b/c/d;p?q", "/g", "http://a/g" },
	{ "http://a/b/c/d;p?q", "//g", "http://g" },
	{ "http://a/b/c/d;p?q", "?y", "http://a/b/c/d;p?y" },
	{ "http://a/b/c/d;p?q", "g?y", "http://a/b/c/g?y" },
	{ "http://a/b/c/d;p?q", "#s", "http://a/b/c/d;p?q" },
	{ "http://a/b/c/d;p?q", "g#s", "http://a/b/c/g" },
	{ "http://a/b/c/d;p?q", "g?y#s", "http://a/b/c/g?y" },
	{ "http://a/b/c/d;p?q", ";x", "http://a/b/c/;x" },
	{ "http://a/b/c/d;p?q", "g;x", "http://a/b/c/g;x" },
	{ "http://a/b/c/d;p?q", "g;x?y#s", "http://a/b/c/g;x?y" },
	{ "http://a/b/c/d;p?q", "", "http://a/b/c/d;p?q" },
	{ "http://a/b/c/d;p?q", ".", "http://a/b/c/" },
	{ "http://a/b/c/d;p?q", "./", "http://a/b/c/" },
	{ "http://a/b/c/d;p?q", "..", "http://a/b/" },
	{ "http://a/b/c/d;p?q", "../", "http://a/b/" },
	{ "http://a/b/c/d;p?q", "../g", "http://a/b/g" },
	{ "http://a/b/c/d;p?q", "../..", "http://a/" },
	{ "http://a/b/c/d;p?q", "../../", "http://a/" },
	{ "http://a/b/c/d;p?q", "../../g", "http://a/g" },
	/* RFC 3986 5.4.2 */
	{ "http://a/b/c/d;p?q", "../../../g", "http://a/g" },
	{ "http://a/b/c/d;p?q", "../../../../g", "http://a/g" },
	{ "http://a/b/c/d;p?q", "/./g", "http://a/g" },
	{ "http://a/b/c/d;p?q", "/../g", "http://a/g" },
	{ "http://a/b/c/d;p?q", "g.", "http://a/b/c/g." },
	{ "http://a/b/c/d;p?q", ".g", "http://a/b/c/.g" },
	{ "http://a/b/c/d;p?q", "g..", "http://a/b/c/g.." },
	{ "http://a/b/c/d;p?q", "..g", "http://a/b/c/..g" },
	{ "http://a/b/c/d;p?q", "./../g", "http://a/b/g" },
	{ "http://a/b/c/d;p?q", "./g/.", "http://a/b/c/g/" },
	{ "http://a/b/c/d;p?q", "g/./h", "http://a/b/c/g/h" },
	{ "http://a/b/c/d;p?q", "g/../h", "http://a/b/c/h" },
	{ "http://a/b/c/d;p?q", "g;x=1/./y", "http://a/b/c/g;x=1/y" },
	{ "http://a/b/c/d;p?q", "g;x=1/../y", "http://a/b/c/y" },
	{ "http://a/b/c/d;p?q", "g?y/./x", "http://a/b/c/g?y/./x" },
	{ "http://a/b/c/d;p?q", "g#s/../x", "http://a/b/c/g" },
	{ "http://a/b/c/d;p?q", "http:g", NULL },
	/* schemes, hosts, ports */
	{ "https://example.com/a/b", "//cdn.example.net/i.png",
	    "https://cdn.example.net/i.png" },
	{ "https://example.com/a/b", "HTTP://Example.COM/X",
	    "http://Example.COM/X" },
	{ "http://example.com:8080/a/b", "../c", "http://example.com:8080/c" },
	{ "http://[2001:db8::1]:8448/a/b", "c?d=1",
	    "http://[2001:db8::1]:8448/a/c?d=1" },
	{ "https://example.com", "img.png", "https://example.com/img.png" },
	{ "https://example.com", "?q", "https://example.com?q" },
	{ "https://example.com/a", "  b c.png\n", "https://example.com/b%20c.png" },
	{ "https://example.com/a", "/\xC3\xA9?\"<>", "https://example.com/%C3%A9?%22%3C%3E" },
	{ "https://example.com/a", "javascript:alert(1)", NULL },
	{ "https://example.com/a", "JavaScript:alert(1)", NULL },
	{ "https://example.com/a", "mailto:a@example.com", NULL },
	{ "https://example.com/a", "ftp://example.com/f", NULL },
	{ "https://example.com/a", "data:image/png;base64,AAAA", NULL },
	{ "https://example.com/a", "http://", NULL },
	{ "https://example.com/a", "///x", NULL },
	{ "https://example.com/a", "http://ex ample.com/", NULL },
	{ "https://example.com/a", "http://\xC3\xA9.example/", NULL },
	{ "ftp://example.com/a", "b", NULL },
	{ "/relative/base", "b", NULL },
	{ NULL, "b", NULL },
	{ NULL, "https://example.com/x/../y", "https://example.com/y" },
};

static void
test_resolve_table(void **state)
{
	char out[256];

	(void)state;
	for (size_t i = 0; i < NELEM(resolves); i++) {
		int rc = mr_preview_resolve_url(resolves[i].base,
		    resolves[i].ref, out, sizeof(out));

		if (resolves[i].want == NULL) {
			if (rc != -1)
				fail_msg("%zu: '%s' gave '%s'", i,
				    resolves[i].ref, out);
			continue;
		}
		if (rc != 0)
			fail_msg("%zu: '%s' refused", i, resolves[i].ref);
		assert_string_equal(out, resolves[i].want);
	}
}

static void
test_resolve_overlong(void **state)
{
	char out[32], ref[5002], big[6000];

	(void)state;
	/* "/aaa...": 5001 bytes, resolving to 5009. */
	ref[0] = '/';
	memset(ref + 1, 'a', 5000);
	ref[5001] = '\0';
	assert_int_equal(mr_preview_resolve_url("http://a/", "b", out, 9), -1);
	assert_int_equal(mr_preview_resolve_url("http://a/", "b", out, 11), 0);
	assert_string_equal(out, "http://a/b");
	assert_int_equal(mr_preview_resolve_url("http://a/", ref, out,
	    sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(mr_preview_resolve_url("http://a/", ref, big,
	    sizeof(big)), 0);
	assert_int_equal(strlen(big), 5009);
}

/* --- data: URLs --- */

static const struct {
	const char *url;
	size_t max;
	int ok;
	const char *type;
	const char *data;
	size_t len;
} datas[] = {
	{ "data:image/png;base64,iVBORw0KGgo=", 100, 1, "image/png",
	    "\x89PNG\r\n\x1a\n", 8 },
	{ "data:image/png;base64,iVBORw0KGgo", 100, 1, "image/png",
	    "\x89PNG\r\n\x1a\n", 8 },
	{ "DATA:Image/GIF;foo=bar;BASE64, R0lG ODlh", 100, 1, "image/gif",
	    "GIF89a", 6 },
	{ "data:,A%20brief%20note", 100, 1, "text/plain", "A brief note",
	    12 },
	{ "data:text/plain;charset=utf-8,%C3%A9", 100, 1, "text/plain",
	    "\xC3\xA9", 2 },
	{ "data:;base64,", 100, 1, "text/plain", "", 0 },
	{ "data:text/plain;base64,YWJj", 3, 1, "text/plain", "abc", 3 },
	{ "data:text/plain;base64,YWJj", 2, 0, NULL, NULL, 0 },
	{ "data:text/plain,abcd", 3, 0, NULL, NULL, 0 },
	{ "data:image/png;base64,iVBO*w0KGgo=", 100, 0, NULL, NULL, 0 },
	{ "data:image/png;base64,iVBORw0KGgo==", 100, 0, NULL, NULL, 0 },
	{ "data:image/png;base64,i", 100, 0, NULL, NULL, 0 },
	{ "data:image/png;base64,ab=c", 100, 0, NULL, NULL, 0 },
	{ "data:text/plain,100%", 100, 0, NULL, NULL, 0 },
	{ "data:text/plain,%zz", 100, 0, NULL, NULL, 0 },
	{ "data:image/png;base64", 100, 0, NULL, NULL, 0 },
	{ "data:image png,x", 100, 0, NULL, NULL, 0 },
	{ "data:image/,x", 100, 0, NULL, NULL, 0 },
	{ "http://example.com/,x", 100, 0, NULL, NULL, 0 },
};

static void
test_data_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(datas); i++) {
		struct mr_err err = { 0 };
		unsigned char *out = (unsigned char *)"x";
		size_t len = 99;
		char mt[64];
		int rc = mr_preview_decode_data_url(datas[i].url, datas[i].max,
		    &out, &len, mt, sizeof(mt), &err);

		if (!datas[i].ok) {
			if (rc != -1)
				fail_msg("%zu: '%s' accepted", i, datas[i].url);
			assert_null(out);
			assert_int_equal(err.status, 502);
			continue;
		}
		if (rc != 0)
			fail_msg("%zu: '%s': %s", i, datas[i].url, err.msg);
		assert_non_null(out);
		assert_string_equal(mt, datas[i].type);
		assert_int_equal(len, datas[i].len);
		if (len > 0)
			assert_memory_equal(out, datas[i].data, len);
		free(out);
	}
}

static void
test_data_small_mediatype(void **state)
{
	struct mr_err err = { 0 };
	unsigned char *out;
	size_t len;
	char mt[10];

	(void)state;
	assert_int_equal(mr_preview_decode_data_url("data:image/png,x", 10,
	    &out, &len, mt, sizeof(mt) - 1, &err), -1);
	assert_int_equal(mr_preview_decode_data_url("data:image/gif,x", 10,
	    &out, &len, mt, sizeof(mt), &err), 0);
	free(out);
	assert_string_equal(err.msg, "malformed data url");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_table),
		cmocka_unit_test(test_resolve_overlong),
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_small_mediatype),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
