/*
 * test_preview_html: the fixture pages of tests/fixtures/html with their
 * exact OpenGraph objects, hostile pages (deep nesting, attribute bombs,
 * garbage), the value rules one by one, and charsets through whole pages.
 * The charset choice alone is test_preview_charset.c; URL resolution and
 * data: URLs are test_preview_resolve.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../common/preview_html.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE "https://matrix.org/blog/2024/index.html"

/* --- fixtures: next to this file, else from the top or tests/unit --- */

static char *
fixture_load(const char *name, size_t *len)
{
	return (char *)fixture_find(__FILE__, "html", NULL, name, len);
}

/* --- helpers --- */

static cJSON *
extract(const char *html, size_t len, const char *ct)
{
	struct mr_err err = { 0 };
	cJSON *j = mr_preview_html_extract(html, len, ct, PAGE, &err);

	if (j == NULL)
		fail_msg("extract failed: %d %s", err.status, err.msg);
	return j;
}

static cJSON *
extract_str(const char *html)
{
	return extract(html, strlen(html), NULL);
}

/*
 * The object must hold exactly these keys: "key=value" for strings,
 * "key#123" for integers.
 */
static void
expect_keys(const cJSON *j, const char *const *want, size_t n)
{
	const cJSON *it;

	assert_int_equal(cJSON_GetArraySize(j), (int)n);
	for (size_t i = 0; i < n; i++) {
		const char *sep = strpbrk(want[i], "=#");
		char key[128];

		assert_non_null(sep);
		snprintf(key, sizeof(key), "%.*s", (int)(sep - want[i]),
		    want[i]);
		it = cJSON_GetObjectItemCaseSensitive(j, key);
		if (it == NULL)
			fail_msg("key '%s' missing", key);
		if (*sep == '=') {
			assert_true(cJSON_IsString(it));
			assert_string_equal(it->valuestring, sep + 1);
		} else {
			assert_true(cJSON_IsNumber(it));
			assert_int_equal((long long)it->valuedouble,
			    strtoll(sep + 1, NULL, 10));
		}
	}
}

static void
check_fixture(const char *name, const char *ct, const char *const *want,
    size_t n)
{
	size_t len;
	char *b = fixture_load(name, &len);
	cJSON *j = extract(b, len, ct);

	expect_keys(j, want, n);
	cJSON_Delete(j);
	free(b);
}

static void
check_html(const char *html, const char *const *want, size_t n)
{
	cJSON *j = extract_str(html);

	expect_keys(j, want, n);
	cJSON_Delete(j);
}

/* --- fixtures --- */

static void
test_og_full(void **state)
{
	static const char *const want[] = {
		"og:title=Matrix Blog Post",
		"og:description=This is a really cool blog post from matrix.org",
		"og:image=https://matrix.org/blog/images/post.png",
		"og:image:type=image/png",
		"og:image:width#48",
		"og:image:height#48",
		"og:url=https://matrix.org/blog/2024/post",
		"og:site_name=Matrix.org",
		"og:type=article",
	};

	(void)state;
	check_fixture("og_full.html", "text/html", want, NELEM(want));
}

static void
test_twitter_only(void **state)
{
	static const char *const want[] = {
		"og:title=Tweet title",
		"og:description=Tweet description",
		"og:image=https://cdn.example.org/tw.jpg",
	};

	(void)state;
	check_fixture("twitter_only.html", NULL, want, NELEM(want));
}

static void
test_plain_title(void **state)
{
	/* 1x1, data: and 16x16 images are passed over. */
	static const char *const want[] = {
		"og:title=Plain page title",
		"og:description=A plain description.",
		"og:image=https://matrix.org/blog/2024/photo.jpg",
	};

	(void)state;
	check_fixture("plain_title.html", "text/html; charset=UTF-8", want,
	    NELEM(want));
}

static void
test_cp1251(void **state)
{
	static const char *const want[] = {
		"og:title=Привет, мир — тест",
		"og:description=Описание страницы",
	};

	(void)state;
	check_fixture("cp1251.html", "text/html", want, NELEM(want));
}

static void
test_cp1251_header_only(void **state)
{
	static const char *const want[] = { "og:title=Только заголовок" };
	static const char *const quoted[] = { "og:title=Только заголовок" };

	(void)state;
	check_fixture("cp1251_header_only.html",
	    "text/html; charset=windows-1251", want, NELEM(want));
	check_fixture("cp1251_header_only.html",
	    "text/html;charset=\"CP1251\"", quoted, NELEM(quoted));
}

static void
test_utf16_bom(void **state)
{
	/* The BOM beats the <meta charset="utf-8"> inside. */
	static const char *const want[] = {
		"og:title=UTF-16 страница ✓",
		"og:description=Little-endian with a BOM",
	};

	(void)state;
	check_fixture("utf16_bom.html", NULL, want, NELEM(want));
}

static void
test_overlong_title(void **state)
{
	static const char *const want[] = { "og:site_name=Long" };

	(void)state;
	check_fixture("overlong_title.html", NULL, want, NELEM(want));
}

static void
test_truncated(void **state)
{
	static const char *const want[] = {
		"og:title=Cut short",
		"og:description=kept",
		"og:image=https://matrix.org/a.png",
	};

	(void)state;
	check_fixture("truncated.html", NULL, want, NELEM(want));
}

static void
test_garbage(void **state)
{
	size_t len;
	char *b = fixture_load("garbage.bin", &len);
	static const char *const cts[] = { NULL, "text/html; charset=utf-8",
	    "text/html; charset=shift_jis", "text/html; charset=utf-16" };

	(void)state;
	for (size_t i = 0; i < NELEM(cts); i++) {
		struct mr_err err = { 0 };
		cJSON *j = mr_preview_html_extract(b, len, cts[i], PAGE, &err);

		/* Whatever it finds, it is an object of valid strings. */
		if (j != NULL) {
			const cJSON *it;

			assert_true(cJSON_IsObject(j));
			cJSON_ArrayForEach(it, j)
				if (cJSON_IsString(it))
					assert_true(mr_utf8_valid(
					    it->valuestring,
					    strlen(it->valuestring)));
			cJSON_Delete(j);
		} else {
			assert_int_equal(err.status, 502);
		}
	}
	free(b);
}

/* --- hostile shapes --- */

static double
seconds_since(struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static char *
repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *b = malloc(hl + ul * n + tl + 1), *p = b;

	assert_non_null(b);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return b;
}

static void
test_nested(void **state)
{
	static const char *const want[] = { "og:title=Deep",
	    "og:description=at the bottom" };
	struct timespec t0;
	char *b = repeat("<title>Deep</title>", "<div>", 100000,
	    "<meta property=\"og:description\" content=\"at the bottom\">");
	char *open = repeat("", "<b><i><table><p>", 50000, "");
	cJSON *j;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	check_html(b, want, NELEM(want));
	j = extract_str(open);
	cJSON_Delete(j);
	assert_true(seconds_since(&t0) < 10.0);
	free(b);
	free(open);
}

/* 200000 distinct attributes: quadratic inside libxml2 if let through. */
static void
test_attribute_bomb(void **state)
{
	static const char *const want[] = { "og:title=after" };
	struct timespec t0;
	size_t cap = 2000000, n = 0;
	char *b = malloc(cap);

	(void)state;
	assert_non_null(b);
	n += (size_t)snprintf(b + n, cap - n, "<meta ");
	for (int i = 0; i < 200000; i++)
		n += (size_t)snprintf(b + n, cap - n, "a%d ", i);
	/* A quoted ">" or "<x" must not end our count either. */
	n += (size_t)snprintf(b + n, cap - n, "q=\">\" r=\"<x\" ");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(b + n, cap - n, "b%d=\"\"", i);
	snprintf(b + n, cap - n, "><meta property=og:title content=after>");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	check_html(b, want, NELEM(want));
	assert_true(seconds_since(&t0) < 5.0);
	free(b);
}

static void
test_empty_and_textonly(void **state)
{
	struct mr_err err = { 0 };
	cJSON *j;

	(void)state;
	assert_null(mr_preview_html_extract("", 0, NULL, PAGE, &err));
	assert_int_equal(err.status, 502);
	assert_string_equal(err.errcode, "M_UNKNOWN");
	assert_string_equal(err.msg, "cannot parse html");
	j = extract_str("no tags at all, just words");
	assert_true(cJSON_IsObject(j));
	assert_int_equal(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);
}

/* --- value rules --- */

static void
test_first_occurrence_wins(void **state)
{
	static const char *const want[] = { "og:title=first",
	    "og:description=second usable" };

	(void)state;
	check_html("<meta property=og:title content=first>"
	    "<meta property=OG:TITLE content=second>"
	    "<meta name=og:title content=third>"
	    /* A dropped first value does not block the next one. */
	    "<meta property=og:description content=\"\x01\">"
	    "<meta property=og:description content=\"second usable\">"
	    "<meta property=og:description content=\"third\">",
	    want, NELEM(want));
}

static void
test_whitespace_collapse(void **state)
{
	static const char *const want[] = {
		"og:title=a b c",
		"og:description=x &amp; y\xC2\xA0z",
	};

	(void)state;
	check_html("<meta property=og:title content=\"  a \t\n\r b\f   c \">"
	    "<meta property=og:description content=\" x &amp;amp; y&nbsp;z\">",
	    want, NELEM(want));
}

static void
test_control_dropped(void **state)
{
	/*
	 * libxml2 itself leaves out raw C0 characters of the markup (XML
	 * has no place for them); C1 and DEL reach us and drop the value.
	 */
	static const char *const want[] = { "og:site_name=ok",
	    "og:title=badtitle" };

	(void)state;
	check_html("<title>bad\x07title</title>"
	    "<meta property=og:description content=\"del\x7f\">"
	    "<meta property=og:type content=\"c1\xC2\x85\">"
	    "<meta property=og:locale content=\"&#1;\">"
	    "<meta property=og:site_name content=ok>", want, NELEM(want));
}

static void
test_numbers(void **state)
{
	static const char *const want[] = { "og:image:height#300",
	    "og:video:width#1280" };

	(void)state;
	check_html("<meta property=og:image:width content=wide>"
	    "<meta property=og:image:height content=\" 300 \">"
	    "<meta property=og:video:width content=1280>"
	    "<meta property=og:video:height content=-5>", want, NELEM(want));
	check_html("<meta property=og:image:width content=0>"
	    "<meta property=og:image:height content=99999999999>"
	    "<meta property=og:video:width content=12px>", NULL, 0);
}

static void
test_urls(void **state)
{
	static const char *const want[] = {
		"og:image=data:image/png;base64,iVBORw0KGgo=",
		"og:url=https://matrix.org/x%20y",
		"og:video=https://v.example/clip.mp4",
	};
	static const char *const base[] = {
		"og:image=https://cdn.example/assets/a.png",
		"og:url=https://matrix.org/abs",
	};
	static const char *const sub[] = {
		"og:image=https://matrix.org/blog/2024/secure.png",
		"og:image:secure_url=https://matrix.org/blog/2024/secure.png",
	};

	(void)state;
	check_html("<meta property=og:image content=\"javascript:alert(1)\">"
	    "<meta property=og:image content=\"data:image/png;base64,"
	    "iVBORw0KGgo=\">"
	    "<meta property=og:url content=\"data:text/html,x\">"
	    "<meta property=og:url content=\"/x y\">"
	    "<meta property=og:video content=\"ftp://v.example/clip.mp4\">"
	    "<meta property=og:video content=\"//v.example/clip.mp4\">",
	    want, NELEM(want));
	check_html("<base href=\"https://cdn.example/assets/\">"
	    "<meta property=og:image content=a.png>"
	    "<meta property=og:url content=https://matrix.org/abs>",
	    base, NELEM(base));
	check_html("<meta property=og:image:secure_url content=secure.png>"
	    "<meta name=twitter:image content=tw.png>", sub, NELEM(sub));
}

static void
test_keys(void **state)
{
	char big[16000];
	size_t n = 0;
	cJSON *j;

	(void)state;
	check_html("<meta property=\"og:b@d\" content=x>"
	    "<meta property=\"og:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" "
	    "content=x>"
	    "<meta property=\"article:author\" content=x>"
	    "<meta property=\"og:\xC3\xA9\" content=x>", NULL, 0);
	for (int i = 0; i < 150; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n,
		    "<meta property=og:k%d content=v>", i);
	snprintf(big + n, sizeof(big) - n, "<title>late</title>");
	j = extract_str(big);
	assert_int_equal(cJSON_GetArraySize(j), MR_PREVIEW_KEYS_MAX);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "og:k99"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "og:k100"));
	cJSON_Delete(j);
}

static void
test_value_max(void **state)
{
	char page[3000];
	cJSON *j;
	const cJSON *t;

	(void)state;
	/* Exactly MR_PREVIEW_VALUE_MAX bytes is kept; one more is not. */
	snprintf(page, sizeof(page), "<meta property=og:title content=\"%0*d\">"
	    "<meta property=og:type content=\"%0*d\">",
	    MR_PREVIEW_VALUE_MAX, 0, MR_PREVIEW_VALUE_MAX + 1, 0);
	j = extract_str(page);
	t = cJSON_GetObjectItemCaseSensitive(j, "og:title");
	assert_non_null(t);
	assert_int_equal(strlen(t->valuestring), MR_PREVIEW_VALUE_MAX);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "og:type"));
	cJSON_Delete(j);
}

static void
test_charsets(void **state)
{
	static const char *const latin[] = { "og:title=café “x”" };
	static const char *const meta[] = { "og:title=Ёж" };
	static const char *const hdr[] = { "og:title=\xC3\x90\xC2\xA8" };
	static const char *const p1 = "<meta charset=windows-1251><title>"
	    "\xD0\xA8</title>";
	static const char *const p2 = "<meta charset=windows-1251><title>"
	    "\xA8\xE6</title>";
	static const char *const cmt[] = { "og:title=\xC3\xA8\xC3\xA6" };
	cJSON *j;

	(void)state;
	/* Not UTF-8 and nothing declared: windows-1252. */
	check_html("<title>caf\xE9 \x93x\x94</title>", latin, NELEM(latin));
	/* <meta http-equiv> in the prescan. */
	check_html("<meta http-equiv=\"Content-Type\" content=\"text/html; "
	    "charset=windows-1251\"><title>\xA8\xE6</title>", meta,
	    NELEM(meta));
	/* The header beats the <meta>; an unknown header label does not. */
	j = extract(p1, strlen(p1), "text/html; charset=iso-8859-1");
	expect_keys(j, hdr, NELEM(hdr));
	cJSON_Delete(j);
	j = extract(p2, strlen(p2), "text/html; charset=no-such-charset");
	expect_keys(j, meta, NELEM(meta));
	cJSON_Delete(j);
	/* A <meta> inside a comment is not read. */
	check_html("<!-- <meta charset=windows-1251> --><title>\xE8\xE6</title>",
	    cmt, NELEM(cmt));
}

static void
test_title_rules(void **state)
{
	static const char *const want[] = { "og:title=a <b> & c" };

	(void)state;
	check_html("<svg><title>icon</title></svg>"
	    "<title>a <b> &amp; c</title><title>second</title>", want,
	    NELEM(want));
	check_html("<script>for (i = 0; i<n; i++) x = \"<meta property="
	    "og:title content=no>\";</script><title>a <b> &amp; c</title>",
	    want, NELEM(want));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_og_full),
		cmocka_unit_test(test_twitter_only),
		cmocka_unit_test(test_plain_title),
		cmocka_unit_test(test_cp1251),
		cmocka_unit_test(test_cp1251_header_only),
		cmocka_unit_test(test_utf16_bom),
		cmocka_unit_test(test_overlong_title),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_attribute_bomb),
		cmocka_unit_test(test_empty_and_textonly),
		cmocka_unit_test(test_first_occurrence_wins),
		cmocka_unit_test(test_whitespace_collapse),
		cmocka_unit_test(test_control_dropped),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_value_max),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_title_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
