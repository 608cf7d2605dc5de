/*
 * test_http: the pure helpers of common/http.c (route table, percent
 * decoding, Range, ETag, inline types, Content-Disposition, parameter
 * validators), each as a table of valid and hostile input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/http.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A heap copy of exactly n bytes, no NUL: a read past n trips ASan. */
static char *
exact_copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

/* --- mr_http_route --- */

#define GH (MR_METHOD_GET | MR_METHOD_HEAD)
#define G MR_METHOD_GET
#define PO MR_METHOD_POST
#define PU MR_METHOD_PUT

struct route_case {
	const char *path;
	enum mr_endpoint ep;
	enum mr_api api;
	unsigned methods;
	const char *rest;	/* path + params_at */
};

/* Every endpoint of every client prefix that has it. */
#define CLIENT_ROUTES(P, API)						\
	{ P "upload", MR_EP_UPLOAD, API, PO, "" },			\
	{ P "download/example.org/abc", MR_EP_DOWNLOAD, API, GH,	\
	  "/example.org/abc" },						\
	{ P "download/example.org/abc/cat.jpg", MR_EP_DOWNLOAD, API, GH, \
	  "/example.org/abc/cat.jpg" },					\
	{ P "thumbnail/example.org/abc", MR_EP_THUMBNAIL, API, GH,	\
	  "/example.org/abc" },						\
	{ P "preview_url", MR_EP_PREVIEW_URL, API, G, "" },		\
	{ P "config", MR_EP_CONFIG, API, G, "" }

static const struct route_case route_valids[] = {
	CLIENT_ROUTES("/_matrix/media/r0/", MR_API_LEGACY),
	CLIENT_ROUTES("/_matrix/media/v1/", MR_API_LEGACY),
	CLIENT_ROUTES("/_matrix/media/v3/", MR_API_LEGACY),
	CLIENT_ROUTES("/_matrix/client/r0/media/", MR_API_MSC1902),
	CLIENT_ROUTES("/_matrix/client/unstable/org.matrix.msc1902/media/",
	    MR_API_MSC1902),
	{ "/_matrix/media/v1/create", MR_EP_CREATE, MR_API_LEGACY, PO, "" },
	{ "/_matrix/media/v3/upload/example.org/abc", MR_EP_UPLOAD_PUT,
	  MR_API_LEGACY, PU, "/example.org/abc" },
	{ "/_matrix/client/v1/media/download/example.org/abc", MR_EP_DOWNLOAD,
	  MR_API_CLIENT_V1, GH, "/example.org/abc" },
	{ "/_matrix/client/v1/media/download/example.org/abc/a%20b.png",
	  MR_EP_DOWNLOAD, MR_API_CLIENT_V1, GH, "/example.org/abc/a%20b.png" },
	{ "/_matrix/client/v1/media/thumbnail/example.org/abc",
	  MR_EP_THUMBNAIL, MR_API_CLIENT_V1, GH, "/example.org/abc" },
	{ "/_matrix/client/v1/media/preview_url", MR_EP_PREVIEW_URL,
	  MR_API_CLIENT_V1, G, "" },
	{ "/_matrix/client/v1/media/config", MR_EP_CONFIG, MR_API_CLIENT_V1, G,
	  "" },
	/* federation, MSC1902 shape: server and id */
	{ "/_matrix/federation/v1/remote_media/download/example.org/abc",
	  MR_EP_FED_DOWNLOAD, MR_API_FED_MSC1902, GH, "/example.org/abc" },
	{ "/_matrix/federation/v1/remote_media/thumbnail/example.org/abc",
	  MR_EP_FED_THUMBNAIL, MR_API_FED_MSC1902, GH, "/example.org/abc" },
	{ "/_matrix/federation/unstable/org.matrix.msc1902/remote_media/"
	  "download/example.org/abc", MR_EP_FED_DOWNLOAD, MR_API_FED_MSC1902,
	  GH, "/example.org/abc" },
	{ "/_matrix/federation/unstable/org.matrix.msc1902/remote_media/"
	  "thumbnail/example.org/abc", MR_EP_FED_THUMBNAIL, MR_API_FED_MSC1902,
	  GH, "/example.org/abc" },
	/* federation v1 (MSC3916): the id only */
	{ "/_matrix/federation/v1/media/download/abc", MR_EP_FED_DOWNLOAD,
	  MR_API_FED_V1, G, "/abc" },
	{ "/_matrix/federation/v1/media/thumbnail/abc", MR_EP_FED_THUMBNAIL,
	  MR_API_FED_V1, G, "/abc" },
	{ "/_matrix/key/v2/server", MR_EP_KEYS, MR_API_KEYS, GH, "" },
	/* The older form with a key id (Synapse before 1.70 asks it). */
	{ "/_matrix/key/v2/server/ed25519:a", MR_EP_KEYS, MR_API_KEYS, GH,
	  "/ed25519:a" },
	{ "/_matrix/key/v2/server/", MR_EP_KEYS, MR_API_KEYS, GH, "/" },
	{ "/health", MR_EP_HEALTH, MR_API_HEALTH, GH, "" },
	{ "/metrics", MR_EP_METRICS, MR_API_HEALTH, GH, "" },
};

static const char *const route_invalids[] = {
	"",
	"/",
	"/_matrix",
	"/_matrix/media/v3",
	"/_matrix/media/v3/",
	"/_matrix/media/v2/upload",
	"/_matrix/media/v4/upload",
	"/_matrix/media/v3//upload",
	"/_matrix/media/v3/./upload",
	"/_matrix/media/v3/../v3/upload",
	"/_MATRIX/media/v3/upload",
	"/_matrix/media/v3/Upload",
	"/_matrix/media/v3/uploads",
	"/_matrix/media/v3/uploa",
	"/_matrix/media/v3/download%2Fexample.org%2Fabc",
	"//_matrix/media/v3/upload",
	"_matrix/media/v3/upload",
	/* wrong parameter counts */
	"/_matrix/media/v3/upload/",
	"/_matrix/media/v3/upload/example.org",
	"/_matrix/media/v3/upload/example.org/abc/x",
	"/_matrix/media/v3/download",
	"/_matrix/media/v3/download/",
	"/_matrix/media/v3/download/example.org",
	"/_matrix/media/v3/download/example.org/abc/name/x",
	"/_matrix/media/v3/thumbnail",
	"/_matrix/media/v3/thumbnail/example.org",
	"/_matrix/media/v3/thumbnail/example.org/abc/x",
	"/_matrix/media/v3/config/",
	"/_matrix/media/v3/config/x",
	"/_matrix/media/v3/preview_url/x",
	"/_matrix/media/v1/create/",
	"/_matrix/media/v1/create/example.org/abc",
	/* create only on /_matrix/media/v1 */
	"/_matrix/media/v3/create",
	"/_matrix/media/r0/create",
	"/_matrix/client/r0/media/create",
	"/_matrix/client/unstable/org.matrix.msc1902/media/create",
	"/_matrix/client/v1/media/create",
	/* PUT upload only on v3 */
	"/_matrix/media/r0/upload/example.org/abc",
	"/_matrix/media/v1/upload/example.org/abc",
	"/_matrix/client/r0/media/upload/example.org/abc",
	"/_matrix/client/v1/media/upload/example.org/abc",
	/* no upload on the authenticated client prefix */
	"/_matrix/client/v1/media/upload",
	"/_matrix/client/v1/media/thumbnail/example.org/abc/x",
	"/_matrix/client/v3/media/download/example.org/abc",
	"/_matrix/client/v1/media/server",
	/* endpoints of one family on another's prefix */
	"/_matrix/media/v3/server",
	"/_matrix/key/v2/upload",
	"/_matrix/key/v2/download/example.org/abc",
	"/_matrix/federation/v1/media/upload",
	"/_matrix/federation/v1/media/config",
	"/_matrix/federation/v1/remote_media/config",
	/* federation shapes */
	"/_matrix/federation/v1/media/download",
	"/_matrix/federation/v1/media/download/example.org/abc",
	"/_matrix/federation/v1/media/thumbnail/example.org/abc",
	"/_matrix/federation/v1/remote_media/download/abc",
	"/_matrix/federation/v1/remote_media/download/example.org/abc/name",
	"/_matrix/federation/v1/remote_media/thumbnail/abc",
	"/_matrix/federation/unstable/org.matrix.msc1902/remote_media/"
	    "download/abc",
	"/_matrix/federation/v2/media/download/abc",
	/* keys */
	"/_matrix/key/v2/server/ed25519:a/more",
	"/_matrix/key/v2/query",
	"/_matrix/key/v2/serverx",
	"/_matrix/key/v1/server",
	/* health: exactly /health, outside /_matrix only */
	"/health/",
	"/health/x",
	"/healthz",
	"/Health",
	"//health",
	"/_matrix/health",
	"/_matrix/media/v3/health",
	"/_matrix/key/v2/health",
	/* metrics: exactly /metrics, likewise */
	"/metrics/",
	"/metrics/x",
	"/_matrix/metrics",
	"/_matrix/media/v3/metrics",
};

static void
test_route_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(route_valids); i++) {
		const struct route_case *c = &route_valids[i];
		size_t len = strlen(c->path), at = (size_t)-1;
		char *path = exact_copy(c->path, len);
		struct mr_route r;

		memset(&r, 0xff, sizeof(r));
		if (mr_http_route(path, len, &r, &at) != 0)
			fail_msg("no route for '%s'", c->path);
		if (r.endpoint != c->ep || r.api != c->api || r.methods != c->methods)
			fail_msg("'%s': endpoint %d api %d methods %#x", c->path,
			    (int)r.endpoint, (int)r.api, r.methods);
		if (at > len || strcmp(c->path + at, c->rest) != 0)
			fail_msg("'%s': parameters at %zu, want '%s'", c->path, at,
			    c->rest);
		free(path);
	}
}

static void
test_route_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(route_invalids); i++) {
		size_t len = strlen(route_invalids[i]), at = 0;
		char *path = exact_copy(route_invalids[i], len);
		struct mr_route r;

		if (mr_http_route(path, len, &r, &at) != -1)
			fail_msg("routed invalid '%s' to endpoint %d",
			    route_invalids[i], (int)r.endpoint);
		free(path);
	}
}

/* Only path_len bytes count: the query string is the caller's business. */
static void
test_route_path_len(void **state)
{
	static const char full[] = "/_matrix/media/v3/upload/example.org/abc";
	static const char cfgx[] = "/_matrix/media/v3/configuration";
	struct mr_route r;
	size_t at;

	(void)state;
	assert_int_equal(mr_http_route(full, strlen("/_matrix/media/v3/upload"),
	    &r, &at), 0);
	assert_int_equal(r.endpoint, MR_EP_UPLOAD);
	assert_int_equal(at, strlen("/_matrix/media/v3/upload"));

	assert_int_equal(mr_http_route(cfgx, strlen("/_matrix/media/v3/config"),
	    &r, &at), 0);
	assert_int_equal(r.endpoint, MR_EP_CONFIG);
	assert_int_equal(mr_http_route(cfgx, strlen(cfgx), &r, &at), -1);

	assert_int_equal(mr_http_route(full, 0, &r, &at), -1);
	assert_int_equal(mr_http_route(full, strlen("/_matrix/media/v3/"), &r,
	    &at), -1);
}

/* --- mr_pct_decode --- */

static void
test_pct_decode(void **state)
{
	static const struct {
		const char *src;
		int plus_space;
		const char *want;	/* NULL: -1 */
	} cases[] = {
		{ "", 0, "" },
		{ "abc", 0, "abc" },
		{ "%41", 0, "A" },
		{ "%4a%4A", 0, "JJ" },
		{ "a%20b", 0, "a b" },
		{ "a+b", 1, "a b" },
		{ "a+b", 0, "a+b" },
		{ "%2B", 1, "+" },
		{ "%2b", 0, "+" },
		{ "%2F", 0, "/" },
		{ "%2e%2e%2f", 0, "../" },
		{ "%25", 0, "%" },
		{ "%2541", 0, "%41" },	/* decoded once, not twice */
		{ "%C3%A9", 0, "\xc3\xa9" },
		{ "%ff", 0, "\xff" },	/* bytes, not UTF-8: the caller checks */
		{ "++", 1, "  " },
		{ "x%7E", 1, "x~" },
		/* bad escapes */
		{ "%", 0, NULL },
		{ "%4", 0, NULL },
		{ "a%", 0, NULL },
		{ "a%4", 0, NULL },
		{ "%zz", 0, NULL },
		{ "%g0", 0, NULL },
		{ "%0g", 0, NULL },
		{ "% 41", 0, NULL },
		{ "%%41", 0, NULL },
		{ "%-1", 0, NULL },
		{ "%+1", 1, NULL },
		{ "%x41", 0, NULL },
		{ "%\xc3\xa9", 0, NULL },
		/* a decoded NUL would cut the string short later */
		{ "%00", 0, NULL },
		{ "a%00b", 1, NULL },
		{ "abc%00", 0, NULL },
		/* control characters, raw or decoded, never get through */
		{ "%0a", 0, NULL },
		{ "%0D%0A", 1, NULL },
		{ "a%09b", 0, NULL },
		{ "%1f", 0, NULL },
		{ "%1B[31m", 0, NULL },
		{ "%7f", 0, NULL },
		{ "%7F", 1, NULL },
		{ "a\nb", 0, NULL },
		{ "a\rb", 1, NULL },
		{ "\t", 0, NULL },
		{ "\x1b", 0, NULL },
		{ "\x7f", 0, NULL },
		/* the printable neighbours still decode */
		{ "%20%7E%21", 0, " ~!" },
		{ "%80", 0, "\x80" },
	};
	char dst[64];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t len = strlen(cases[i].src);
		char *src = exact_copy(cases[i].src, len);
		ssize_t n = mr_pct_decode(src, len, dst, cases[i].plus_space);

		if (cases[i].want == NULL) {
			if (n != -1)
				fail_msg("accepted '%s' as '%s'", cases[i].src, dst);
		} else {
			if (n < 0)
				fail_msg("refused '%s'", cases[i].src);
			if (strcmp(dst, cases[i].want) != 0 ||
			    (size_t)n != strlen(cases[i].want))
				fail_msg("'%s' gave '%s' (%zd)", cases[i].src, dst, n);
		}
		free(src);
	}

	/* A raw NUL inside len is refused too. */
	assert_int_equal(mr_pct_decode("a\0b", 3, dst, 0), -1);
	/* Only len bytes are read. */
	assert_int_equal(mr_pct_decode("ab%41", 2, dst, 0), 2);
	assert_string_equal(dst, "ab");
	assert_int_equal(mr_pct_decode("ab%41", 4, dst, 0), -1);
}

/* --- mr_http_parse_range --- */

static void
test_parse_range(void **state)
{
	static const struct {
		const char *hdr;
		int64_t size;
		int rc;
		int64_t first, last;
	} cases[] = {
		{ "bytes=0-9", 100, 1, 0, 9 },
		{ "bytes=5-", 100, 1, 5, 99 },
		{ "bytes=-3", 100, 1, 97, 99 },
		{ "bytes=0-0", 1, 1, 0, 0 },
		{ "bytes=0-", 1, 1, 0, 0 },
		{ "bytes=-1", 1, 1, 0, 0 },
		{ "bytes=99-", 100, 1, 99, 99 },
		{ "bytes=99-99", 100, 1, 99, 99 },
		{ "bytes=50-60", 100, 1, 50, 60 },
		{ "bytes=0-999", 100, 1, 0, 99 },	/* last clamped */
		{ "bytes=-100", 100, 1, 0, 99 },
		{ "bytes=-200", 100, 1, 0, 99 },	/* suffix longer than file */
		{ "BYTES=0-9", 100, 1, 0, 9 },		/* unit is case-insensitive */
		{ "bytes= 0-9", 100, 1, 0, 9 },
		{ "bytes=0-9 ", 100, 1, 0, 9 },
		{ "bytes=0-4294967296", INT64_C(8589934592), 1, 0,
		  INT64_C(4294967296) },
		/* unsatisfiable: 416 */
		{ "bytes=100-", 100, -1, 0, 0 },
		{ "bytes=100-200", 100, -1, 0, 0 },
		{ "bytes=150-160", 100, -1, 0, 0 },
		{ "bytes=-0", 100, -1, 0, 0 },
		{ "bytes=0-", 0, -1, 0, 0 },
		{ "bytes=0-9", 0, -1, 0, 0 },
		{ "bytes=-3", 0, -1, 0, 0 },
		/* several ranges: serve the whole file */
		{ "bytes=0-1,5-6", 100, 0, 0, 0 },
		{ "bytes=0-1, 5-6", 100, 0, 0, 0 },
		{ "bytes=200-300,0-1", 100, 0, 0, 0 },
		{ "bytes=0-1,", 100, 0, 0, 0 },
		/* garbage: ignore the header */
		{ "", 100, 0, 0, 0 },
		{ "bytes", 100, 0, 0, 0 },
		{ "bytes=", 100, 0, 0, 0 },
		{ "bytes=-", 100, 0, 0, 0 },
		{ "bytes=--3", 100, 0, 0, 0 },
		{ "bytes=-3-", 100, 0, 0, 0 },
		{ "bytes=-+3", 100, 0, 0, 0 },
		{ "bytes=abc", 100, 0, 0, 0 },
		{ "bytes=5", 100, 0, 0, 0 },
		{ "bytes=a-b", 100, 0, 0, 0 },
		{ "bytes=5-x", 100, 0, 0, 0 },
		{ "bytes=5-9x", 100, 0, 0, 0 },
		{ "bytes=5x-9", 100, 0, 0, 0 },
		{ "bytes=1-2-3", 100, 0, 0, 0 },
		{ "bytes=0x10-", 100, 0, 0, 0 },
		{ "bytes=+5-", 100, 0, 0, 0 },
		{ "bytes=5-+9", 100, 0, 0, 0 },
		{ "bytes=9-5", 100, 0, 0, 0 },		/* last before first */
		{ "bytes=99999999999999999999-", 100, 0, 0, 0 },
		{ "bytes=0-99999999999999999999", 100, 0, 0, 0 },
		{ "bytes=-99999999999999999999", 100, 0, 0, 0 },
		{ "items=0-9", 100, 0, 0, 0 },
		{ "bytes =0-9", 100, 0, 0, 0 },
		{ "0-9", 100, 0, 0, 0 },
	};
	int64_t first, last;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int rc;

		first = last = -42;
		rc = mr_http_parse_range(cases[i].hdr, cases[i].size, &first, &last);
		if (rc != cases[i].rc)
			fail_msg("'%s' size %lld: rc %d, want %d", cases[i].hdr,
			    (long long)cases[i].size, rc, cases[i].rc);
		if (rc == 1 && (first != cases[i].first || last != cases[i].last))
			fail_msg("'%s' size %lld: [%lld, %lld], want [%lld, %lld]",
			    cases[i].hdr, (long long)cases[i].size, (long long)first,
			    (long long)last, (long long)cases[i].first,
			    (long long)cases[i].last);
		/* Whatever the result, a usable range lies inside the file. */
		if (rc == 1 && (first < 0 || last < first ||
		    last >= cases[i].size))
			fail_msg("'%s': range outside the file", cases[i].hdr);
	}
	assert_int_equal(mr_http_parse_range(NULL, 100, &first, &last), 0);
}

/* --- mr_http_etag_matches --- */

static void
test_etag_matches(void **state)
{
	static const struct {
		const char *inm;
		int want;
	} cases[] = {
		{ "\"abc\"", 1 },
		{ "W/\"abc\"", 1 },
		{ "\"x\", \"abc\"", 1 },
		{ "\"x\",\"abc\"", 1 },
		{ "\"x\" ,\t W/\"abc\"", 1 },
		{ "\"abc\", \"x\"", 1 },
		{ "W/\"x\", W/\"y\", \"abc\"", 1 },
		{ "*", 1 },
		{ " *", 1 },
		{ "", 0 },
		{ " ", 0 },
		{ ",,,", 0 },
		{ "\"abd\"", 0 },
		{ "\"ab\"", 0 },
		{ "\"abcd\"", 0 },
		{ "\"ABC\"", 0 },
		{ "abc", 0 },		/* unquoted */
		{ "\"abc", 0 },		/* unterminated */
		{ "w/\"abc\"", 0 },	/* the weak prefix is case-sensitive */
		{ "\"x\", \"y\"", 0 },
		{ "\"\"", 0 },
		{ "W/", 0 },
		{ "W/W/W/,, \t", 0 },
		{ "\"x\", \"", 0 },
		{ "\"a\"\"b\"\"c\"", 0 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		if (mr_http_etag_matches(cases[i].inm, "\"abc\"") != cases[i].want)
			fail_msg("If-None-Match '%s' != %d", cases[i].inm,
			    cases[i].want);
	assert_int_equal(mr_http_etag_matches(NULL, "\"abc\""), 0);

	/* A comma inside a quoted tag is part of the tag. */
	assert_int_equal(mr_http_etag_matches("\"a,bc\"", "\"a,bc\""), 1);
	assert_int_equal(mr_http_etag_matches("\"x\", \"a,bc\"", "\"a,bc\""), 1);
	assert_int_equal(mr_http_etag_matches("\"a\", \"bc\"", "\"a,bc\""), 0);

	/* The form the server sends: 64 hex digits in quotes. */
	assert_int_equal(mr_http_etag_matches(
	    "W/\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
	    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""),
	    1);
}

/* --- mr_header_inline_safe --- */

/* spec.md 2.7, copied here rather than shared with the code under test. */
static const char *const spec_inline_types[] = {
	"text/css", "text/plain", "text/csv", "application/json",
	"application/ld+json", "image/jpeg", "image/gif", "image/png",
	"image/apng", "image/webp", "image/avif", "video/mp4", "video/webm",
	"video/ogg", "video/quicktime", "audio/mp4", "audio/webm", "audio/aac",
	"audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav",
	"audio/x-pn-wav", "audio/flac", "audio/x-flac",
};

static void
test_inline_safe(void **state)
{
	static const char *const params[] = {
		"", "; charset=utf-8", ";charset=utf-8", " ; q=1", "\t;x=y",
	};
	static const char *const unsafe[] = {
		"text/html",
		"text/html; charset=utf-8",
		"TEXT/HTML",
		"image/svg+xml",
		"image/svg",
		"text/javascript",
		"application/javascript",
		"application/xhtml+xml",
		"text/xml",
		"application/xml",
		"application/pdf",
		"application/octet-stream",
		"multipart/form-data",
		"",
		" ",
		"text",
		"text/",
		"/plain",
		"text/plai",
		"text/plainx",
		"xtext/plain",
		" text/plain",		/* not the type the browser reads */
		"text/plain,text/html",
		"image/png+xml",
		"image/pngx",
		"text/html; x=text/plain",
		"text/html;text/plain",
		"audio/x-wav2",
		"image/svg+xml; charset=utf-8",
		/* Browsers read the last type of a list: one type or none. */
		"text/plain ,text/html",
		"text/plain;,text/html",
		"text/plain; ,text/html",
		"text/plain, text/plain",
		"image/png; x=y, text/html",
		"text/plain; charset=\"a\", text/html",
		"text/plain; charset=utf-8,",
		"text/plain\x01",
		"text/plain\r\n",
		"text/plain ",
		"text/plain; charset=",
		"text/plain; charset=\"open",
		"text/plain charset=utf-8",
	};
	char buf[128];

	(void)state;
	assert_int_equal(NELEM(spec_inline_types), 26);
	for (size_t i = 0; i < NELEM(spec_inline_types); i++) {
		for (size_t k = 0; k < NELEM(params); k++) {
			snprintf(buf, sizeof(buf), "%s%s", spec_inline_types[i],
			    params[k]);
			if (mr_header_inline_safe(buf) != 1)
				fail_msg("'%s' not inline-safe", buf);
		}
		/* Media types are case-insensitive (RFC 9110 8.3.1). */
		snprintf(buf, sizeof(buf), "%s", spec_inline_types[i]);
		for (char *p = buf; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		if (mr_header_inline_safe(buf) != 1)
			fail_msg("'%s' not inline-safe", buf);
	}
	for (size_t i = 0; i < NELEM(unsafe); i++)
		if (mr_header_inline_safe(unsafe[i]) != 0)
			fail_msg("'%s' is inline-safe", unsafe[i]);
	assert_int_equal(mr_header_inline_safe(NULL), 0);
}

/* --- mr_header_media_type --- */

static const struct {
	const char *value;
	const char *essence;
} media_type_valid[] = {
	{ "text/plain", "text/plain" },
	{ "TEXT/Plain", "text/plain" },
	{ "text/plain;charset=utf-8", "text/plain" },
	{ "text/plain ; charset=utf-8", "text/plain" },
	{ "text/plain\t;\tcharset=utf-8", "text/plain" },
	{ "text/plain; charset=\"utf-8\"", "text/plain" },
	/* commas and semicolons inside a quoted-string are its own */
	{ "text/plain; x=\"a, text/html\"", "text/plain" },
	{ "text/plain; x=\"a; b=c\"", "text/plain" },
	{ "text/plain; x=\"a\\\"b, c/d\"", "text/plain" },
	{ "text/plain; x=\"\"", "text/plain" },
	{ "text/plain; x=\"tab\there\"", "text/plain" },
	/* empty parameters are in the grammar: *( OWS ";" OWS [ param ] ) */
	{ "text/plain;", "text/plain" },
	{ "text/plain; ", "text/plain" },
	{ "text/plain;;a=b;", "text/plain" },
	{ "application/vnd.example+json; profile=\"a b\"",
	  "application/vnd.example+json" },
	{ "x/y", "x/y" },
	{ "!#$%&'*+-.^_`|~09azAZ/!#$%&'*+-.^_`|~", "!#$%&'*+-.^_`|~09azaz/"
	  "!#$%&'*+-.^_`|~" },
	{ "a/b; A-Z=!#$", "a/b" },
};

static const char *const media_type_invalid[] = {
	"",
	" ",
	"text",
	"text/",
	"/plain",
	"/",
	" text/plain",
	"text/plain ",
	"text /plain",
	"text/ plain",
	"text/plain/x",
	"text/plain ,text/html",
	"text/plain;,text/html",
	"text/plain,text/html",
	"text/plain, text/html",
	"text/plain; a=b, text/html",
	"text/plain; a=\"b\", text/html",
	"text/plain; a=\"b\"c",
	"text/plain; a=\"b\" c",
	"text/plain charset=utf-8",
	"text/plain; charset",
	"text/plain; charset =utf-8",
	"text/plain; charset= utf-8",
	"text/plain; charset=",
	"text/plain; charset=\"utf-8",
	"text/plain; charset=\"utf-8\\\"",
	"text/plain; charset=\"a\\",
	"text/plain; charset=a b",
	"text/plain; charset=a=b",
	"text/plain; =a",
	"text/plain\x01",
	"text/pl\x01ain",
	"text/plain\r",
	"text/plain\r\nX-Evil: 1",
	"text/plain\n",
	"text/plain; a=\"\x01\"",
	"text/plain; a=\"\r\"",
	"text/plain; a=\"\\\x7f\"",
	"text/plain; a=\"\xc3\xa9\"",
	"t\xc3\xa9xt/plain",
	"text/plain\x7f",
	"text(x)/plain",
	"text/plain; a=(b)",
	"text/\"plain\"",
	"text/plain; a=[b]",
	"text/plain; a=@",
};

static void
test_media_type(void **state)
{
	char essence[64], small[11];

	(void)state;
	for (size_t i = 0; i < NELEM(media_type_valid); i++) {
		const char *v = media_type_valid[i].value;
		char *copy = exact_copy(v, strlen(v) + 1);

		memset(essence, 'x', sizeof(essence));
		if (mr_header_media_type(copy, essence, sizeof(essence)) != 0)
			fail_msg("'%s' refused", v);
		if (strcmp(essence, media_type_valid[i].essence) != 0)
			fail_msg("'%s': essence '%s'", v, essence);
		assert_int_equal(mr_header_media_type(copy, NULL, 0), 0);
		free(copy);
	}
	for (size_t i = 0; i < NELEM(media_type_invalid); i++) {
		const char *v = media_type_invalid[i];
		char *copy = exact_copy(v, strlen(v) + 1);

		if (mr_header_media_type(copy, essence, sizeof(essence)) != -1)
			fail_msg("'%s' accepted", v);
		assert_int_equal(mr_header_media_type(copy, NULL, 0), -1);
		free(copy);
	}
	assert_int_equal(mr_header_media_type(NULL, essence, sizeof(essence)), -1);
	/* The essence must fit with its NUL; the parameters need not. */
	assert_int_equal(mr_header_media_type("text/plain; charset=utf-8", small,
	    sizeof(small)), 0);
	assert_string_equal(small, "text/plain");
	assert_int_equal(mr_header_media_type("text/plainx", small, sizeof(small)),
	    -1);
}

/* --- mr_header_content_type_clean --- */

static const struct {
	const char *value;
	const char *want;	/* NULL: refused */
} ct_clean_cases[] = {
	{ "text/plain", "text/plain" },
	{ "  text/plain\t ", "text/plain" },
	{ "\ttext/plain; charset=utf-8", "text/plain; charset=utf-8" },
	/* Not one media type, yet printable: kept (and never inline). */
	{ "text/plain ,text/html", "text/plain ,text/html" },
	{ "not a type", "not a type" },
	{ "", NULL },
	{ " \t ", NULL },
	{ "text/plain\x01", NULL },
	{ "\x01", NULL },
	{ "text/plain\rx", NULL },
	{ "text/plain\r", NULL },
	{ "text/plain\n", NULL },
	{ "text/plain\r\nSet-Cookie: a=b", NULL },
	{ "text/plain;\tcharset=a", NULL },	/* HTAB inside: not echoed */
	{ "text/plain\x7f", NULL },
	{ "text/pl\xc3\xa9in", NULL },
	{ "\xff", NULL },
};

static void
test_content_type_clean(void **state)
{
	char out[MR_CONTENT_TYPE_MAX + 1], big[MR_CONTENT_TYPE_MAX + 8];

	(void)state;
	for (size_t i = 0; i < NELEM(ct_clean_cases); i++) {
		const char *v = ct_clean_cases[i].value;
		char *copy = exact_copy(v, strlen(v) + 1);
		int rc = mr_header_content_type_clean(copy, out, sizeof(out));

		free(copy);
		if (ct_clean_cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu accepted as '%s'", i, out);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu refused", i);
		assert_string_equal(out, ct_clean_cases[i].want);
	}
	assert_int_equal(mr_header_content_type_clean(NULL, out, sizeof(out)), -1);

	/* MR_CONTENT_TYPE_MAX bytes fit, one more does not, spaces aside. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "  x/", 4);
	big[2 + MR_CONTENT_TYPE_MAX] = ' ';
	big[3 + MR_CONTENT_TYPE_MAX] = '\0';
	assert_int_equal(mr_header_content_type_clean(big, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), MR_CONTENT_TYPE_MAX);
	big[2 + MR_CONTENT_TYPE_MAX] = 'a';
	assert_int_equal(mr_header_content_type_clean(big, out, sizeof(out)), -1);
	/* In place, as a stored row is checked before it is served. */
	snprintf(out, sizeof(out), "%s", "  image/png; a=b ");
	assert_int_equal(mr_header_content_type_clean(out, out, sizeof(out)), 0);
	assert_string_equal(out, "image/png; a=b");
	/* And never past a smaller out. */
	assert_int_equal(mr_header_content_type_clean("text/plain", out, 10), -1);
	assert_int_equal(mr_header_content_type_clean("text/plain", out, 11), 0);
	assert_string_equal(out, "text/plain");
}

/* --- mr_header_content_disposition --- */

static const struct {
	const char *type;
	int force_inline;
	const char *name;
	const char *want;
} cd_cases[] = {
	{ "image/png", 0, NULL, "inline" },
	{ "image/png", 0, "", "inline" },
	{ "text/html", 0, NULL, "attachment" },
	{ "text/html", 1, NULL, "inline" },
	{ "image/svg+xml", 0, "a.svg", "attachment; filename=\"a.svg\"" },
	{ "text/plain ,text/html", 0, NULL, "attachment" },
	{ "text/plain;,text/html", 0, NULL, "attachment" },
	{ NULL, 0, "x", "attachment; filename=\"x\"" },
	{ "application/octet-stream", 0, "cat.jpg",
	  "attachment; filename=\"cat.jpg\"" },
	{ "image/jpeg", 0, "filename.jpg", "inline; filename=\"filename.jpg\"" },
	{ "text/plain; charset=utf-8", 0, "a b.txt",
	  "inline; filename=\"a b.txt\"" },
	{ "image/png", 0, "a;b.png", "inline; filename=\"a;b.png\"" },
	{ "image/png", 0, "a; filename=evil.html",
	  "inline; filename=\"a; filename=evil.html\"" },
	{ "image/png", 0, "!#$&+-.^_`|~'()*,/:<=>?@[]{}%",
	  "inline; filename=\"!#$&+-.^_`|~'()*,/:<=>?@[]{}%\"" },
	/* quote and backslash cannot go in the quoted form */
	{ "image/png", 0, "say \"hi\".png",
	  "inline; filename*=utf-8''say%20%22hi%22.png" },
	{ "image/png", 0, "back\\slash", "inline; filename*=utf-8''back%5Cslash" },
	{ "image/png", 0, "\"", "inline; filename*=utf-8''%22" },
	/* non-ASCII: RFC 8187 percent-encoded UTF-8 */
	{ "image/png", 0, "\xf0\x9f\x90\x94", "inline; filename*=utf-8''%F0%9F%90%94" },
	{ "image/png", 0, "\xf0\x9f\x90\x94.png",
	  "inline; filename*=utf-8''%F0%9F%90%94.png" },
	{ "text/html", 0, "caf\xc3\xa9.html",
	  "attachment; filename*=utf-8''caf%C3%A9.html" },
	/* attr-chars stay, everything else in the escaped form is escaped */
	{ "image/png", 0, "\xc3\xa9!#$&+-.^_`|~",
	  "inline; filename*=utf-8''%C3%A9!#$&+-.^_`|~" },
	{ "image/png", 0, "\xc3\xa9'%*() ;,/:=?@[]\"\\",
	  "inline; filename*=utf-8''%C3%A9%27%25%2A%28%29%20%3B%2C%2F%3A%3D%3F"
	  "%40%5B%5D%22%5C" },
	/* control bytes never reach the header raw */
	{ "image/png", 0, "a\r\nSet-Cookie: x",
	  "inline; filename*=utf-8''a%0D%0ASet-Cookie%3A%20x" },
	{ "image/png", 0, "a\tb", "inline; filename*=utf-8''a%09b" },
	{ "image/png", 0, "a\x7f", "inline; filename*=utf-8''a%7F" },
	{ "image/png", 0, "\x01", "inline; filename*=utf-8''%01" },
};

static void
test_content_disposition(void **state)
{
	char out[512];

	(void)state;
	for (size_t i = 0; i < NELEM(cd_cases); i++) {
		memset(out, 0, sizeof(out));
		if (mr_header_content_disposition(cd_cases[i].type,
		    cd_cases[i].force_inline, cd_cases[i].name, out,
		    sizeof(out)) != 0)
			fail_msg("case %zu failed", i);
		if (strcmp(out, cd_cases[i].want) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, out, cd_cases[i].want);
		for (const char *p = out; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				fail_msg("case %zu: byte 0x%02x in the header", i,
				    (unsigned char)*p);
	}
}

/*
 * Every buffer size below the output's: -1, and no byte written past the
 * buffer (heap buffers of the exact size, so ASan sees any overflow).
 * With room to spare the output is the same as with a large buffer.
 */
static void
test_content_disposition_small_buffers(void **state)
{
	char big[512];

	(void)state;
	for (size_t i = 0; i < NELEM(cd_cases); i++) {
		size_t len;

		assert_int_equal(mr_header_content_disposition(cd_cases[i].type,
		    cd_cases[i].force_inline, cd_cases[i].name, big, sizeof(big)), 0);
		len = strlen(big);
		for (size_t sz = 0; sz <= len; sz++) {
			char *out = malloc(sz ? sz : 1);

			assert_non_null(out);
			if (mr_header_content_disposition(cd_cases[i].type,
			    cd_cases[i].force_inline, cd_cases[i].name, out, sz) != -1)
				fail_msg("case %zu: fits in %zu bytes, needs %zu", i, sz,
				    len + 1);
			free(out);
		}
		for (size_t sz = len + 4; sz < len + 8; sz++) {
			char *out = malloc(sz);

			assert_non_null(out);
			assert_int_equal(mr_header_content_disposition(cd_cases[i].type,
			    cd_cases[i].force_inline, cd_cases[i].name, out, sz), 0);
			assert_string_equal(out, big);
			free(out);
		}
	}
}

/* --- mr_header_disposition_filename --- */

static const struct {
	const char *value;
	const char *want;	/* NULL: no usable filename */
} dfn_cases[] = {
	{ "attachment; filename=\"a b.txt\"", "a b.txt" },
	{ "inline; filename=plain.bin", "plain.bin" },
	{ "attachment;filename=x.bin;size=3", "x.bin" },
	{ "attachment; filename=\"say \\\"hi\\\".txt\"", "say \"hi\".txt" },
	{ "attachment; filename=\"a;b\"; x=y", "a;b" },
	/* filename* wins, whatever the order */
	{ "inline; filename*=utf-8''%F0%9F%90%94.png; filename=\"x.png\"",
	  "\xf0\x9f\x90\x94.png" },
	{ "inline; filename=\"x.png\"; filename*=UTF-8'en'caf%C3%A9",
	  "caf\xc3\xa9" },
	/* a bad filename* falls back to filename= */
	{ "inline; filename*=utf-8''%FF; filename=\"ok\"", "ok" },
	{ "inline; filename*=iso-8859-1''caf%E9; filename=ok", "ok" },
	/* inside a quoted string it is not a parameter */
	{ "attachment; x=\"filename=evil\"; filename=\"good\"", "good" },
	{ "attachment; x=\"; filename*=utf-8''evil\"; filename=good", "good" },
	{ "attachment", NULL },
	{ "attachment; filename=", NULL },
	{ "attachment; filename=\"\"", NULL },
	{ "attachment; filename=\"open", NULL },
	{ "attachment; filename*=utf-8''%FF%FE", NULL },
	{ "attachment; filename*=utf-8''%0A", NULL },
	{ "attachment; filename*=utf-8''", NULL },
	{ "attachment; filename=\"a\x01b\"", NULL },
	{ "attachment; myfilename=x", NULL },
};

static void
test_disposition_filename(void **state)
{
	char out[MR_UPLOAD_NAME_MAX + 1], value[4 * MR_UPLOAD_NAME_MAX];
	size_t o;

	(void)state;
	for (size_t i = 0; i < NELEM(dfn_cases); i++) {
		const char *v = dfn_cases[i].value;
		char *copy = exact_copy(v, strlen(v) + 1);
		int rc = mr_header_disposition_filename(copy, out, sizeof(out));

		free(copy);
		if (dfn_cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu: read '%s'", i, out);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu refused", i);
		assert_string_equal(out, dfn_cases[i].want);
	}
	assert_int_equal(mr_header_disposition_filename(NULL, out, sizeof(out)),
	    -1);

	/* A name that fits, though its encoded form is longer than out. */
	o = (size_t)snprintf(value, sizeof(value), "inline; filename*=utf-8''");
	for (int i = 0; i < 400; i++)
		o += (size_t)snprintf(value + o, sizeof(value) - o, "%%C3%%A9");
	assert_int_equal(mr_header_disposition_filename(value, out, sizeof(out)),
	    0);
	assert_int_equal(strlen(out), 800);
	assert_memory_equal(out, "\xc3\xa9\xc3\xa9", 4);
	/* One that does not fit is refused, not cut. */
	assert_int_equal(mr_header_disposition_filename(value, out, 800), -1);
	assert_int_equal(mr_header_disposition_filename(value, out, 801), 0);
	assert_int_equal(mr_header_disposition_filename(
	    "a; filename=\"abc\"", out, 3), -1);
	assert_int_equal(mr_header_disposition_filename(
	    "a; filename=\"abc\"", out, 4), 0);
}

/* --- validators --- */

static void
test_valid_uint(void **state)
{
	static const struct {
		const char *s;
		int64_t n;
	} valids[] = {
		{ "0", 0 }, { "1", 1 }, { "800", 800 }, { "20000", 20000 },
		{ "007", 7 }, { "9007199254740992", INT64_C(9007199254740992) },
	};
	static const char *const invalids[] = {
		"", "-1", "-0x1", "+1", "1.0", "1e3", " 1", "1 ", "0x1", "abc", "1a",
		"9007199254740993", "99999999999999999999", "18446744073709551617",
		"\xef\xbc\x91",		/* fullwidth digit one */
	};
	struct mr_pval v;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		memset(&v, 0, sizeof(v));
		v.n = -1;
		if (mr_valid_uint(valids[i].s, &v) != 0)
			fail_msg("refused '%s'", valids[i].s);
		if (v.n != valids[i].n)
			fail_msg("'%s' gave %lld", valids[i].s, (long long)v.n);
	}
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_valid_uint(invalids[i], &v) != -1)
			fail_msg("accepted '%s'", invalids[i]);
}

static void
test_valid_bool(void **state)
{
	static const char *const invalids[] = {
		"", "True", "TRUE", "False", "1", "0", "yes", "no", "on", "off",
		"true ", " true", "truex", "falsey", "t", "f",
	};
	struct mr_pval v;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.n = -1;
	assert_int_equal(mr_valid_bool("true", &v), 0);
	assert_int_equal(v.n, 1);
	v.n = -1;
	assert_int_equal(mr_valid_bool("false", &v), 0);
	assert_int_equal(v.n, 0);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_valid_bool(invalids[i], &v) != -1)
			fail_msg("accepted '%s'", invalids[i]);
}

static void
test_valid_filename(void **state)
{
	static const char *const valids[] = {
		"",
		"a.jpg",
		"my file (1).png",
		"\xf0\x9f\x90\x94.png",
		"caf\xc3\xa9.txt",
		"say \"hi\"; x=y",
		"~!@#$%^&*()_+`-={}|[]\\:;'<>?,./",
	};
	static const char *const invalids[] = {
		"a\nb",
		"a\rb",
		"a\r\nContent-Type: text/html",
		"\t",
		"a\x01",
		"\x1b[31m",
		"a\x7f",
		"\xc3",			/* truncated */
		"\xc3\x28",
		"\xc0\xaf",		/* overlong '/' */
		"\xed\xa0\x80",		/* surrogate */
		"\xff",
		"\xf4\x90\x80\x80",
	};
	struct mr_pval v;
	char *s;

	(void)state;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < NELEM(valids); i++)
		if (mr_valid_filename(valids[i], &v) != 0)
			fail_msg("refused filename '%s'", valids[i]);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_valid_filename(invalids[i], &v) != -1)
			fail_msg("accepted filename case %zu", i);

	s = malloc(MR_UPLOAD_NAME_MAX + 2);
	assert_non_null(s);
	memset(s, 'a', MR_UPLOAD_NAME_MAX);
	s[MR_UPLOAD_NAME_MAX] = '\0';
	assert_int_equal(mr_valid_filename(s, &v), 0);
	s[MR_UPLOAD_NAME_MAX] = 'a';
	s[MR_UPLOAD_NAME_MAX + 1] = '\0';
	assert_int_equal(mr_valid_filename(s, &v), -1);
	free(s);
}

/* --- response headers: no CR or LF ever reaches the wire --- */

static void
test_resp_header_no_splitting(void **state)
{
	struct mr_req *req = calloc(1, sizeof(*req));

	(void)state;
	assert_non_null(req);
	mr_resp_header(req, "X-A", "%s", "one");
	assert_string_equal(req->resp_headers, "X-A: one\r\n");
	assert_int_equal(req->resp_headers_len, strlen("X-A: one\r\n"));

	mr_resp_header(req, "X-B", "%s", "two\r\nSet-Cookie: evil=1");
	mr_resp_header(req, "X-C", "%s", "three\nx");
	mr_resp_header(req, "X-D\r\nX-E", "%s", "four");
	assert_int_equal(req->resp_headers_len, strlen("X-A: one\r\n"));
	assert_string_equal(req->resp_headers, "X-A: one\r\n");

	mr_resp_header(req, "X-F", "%d", 5);
	assert_string_equal(req->resp_headers, "X-A: one\r\nX-F: 5\r\n");
	free(req);
}

/* Headers past the buffer are dropped whole, never cut. */
static void
test_resp_header_overflow(void **state)
{
	struct mr_req *req = calloc(1, sizeof(*req));
	char value[1000];

	(void)state;
	assert_non_null(req);
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (int i = 0; i < 20; i++)
		mr_resp_header(req, "X-Long", "%s", value);
	assert_true(req->resp_headers_len > 0);
	assert_true(req->resp_headers_len < sizeof(req->resp_headers));
	/* Whole lines only: a multiple of one line, ending in CRLF. */
	assert_int_equal(req->resp_headers_len % (strlen(value) + 10), 0);
	assert_memory_equal(req->resp_headers + req->resp_headers_len - 2,
	    "\r\n", 2);
	free(req);
}

/* --- the client address --- */

static void
test_client_addr(void **state)
{
	static const struct {
		const char *peer, *xff, *trusted, *want;
	} cases[] = {
		{ "192.0.2.1", NULL, "", "192.0.2.1" },
		/* An untrusted peer's X-Forwarded-For is anyone's word. */
		{ "192.0.2.1", "203.0.113.9", "", "192.0.2.1" },
		{ "192.0.2.1", "203.0.113.9", "10.0.0.0/8", "192.0.2.1" },
		{ "10.1.1.1", "203.0.113.9", "10.0.0.0/8", "203.0.113.9" },
		/* Right to left, past every trusted hop. */
		{ "10.1.1.1", "198.51.100.7, 203.0.113.9, 10.2.2.2",
		  "10.0.0.0/8", "203.0.113.9" },
		{ "10.1.1.1", " 203.0.113.9 ,10.2.2.2 ", "10.0.0.0/8",
		  "203.0.113.9" },
		{ "::1", "2001:db8::5", "::1/128", "2001:db8::5" },
		/* All trusted: the leftmost one. */
		{ "10.1.1.1", "10.3.3.3, 10.2.2.2", "10.0.0.0/8", "10.3.3.3" },
		/* Garbage ends the walk at the last good address. */
		{ "10.1.1.1", "203.0.113.9, nonsense", "10.0.0.0/8", "10.1.1.1" },
		{ "10.1.1.1", "", "10.0.0.0/8", "10.1.1.1" },
		{ NULL, NULL, "", "-" },
	};
	struct mr_config cfg;
	FCGX_Request fake;
	struct mr_req req;
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char peer[64], xff[128];
		char *env[3];
		size_t n = 0;

		mr_config_defaults(&cfg);
		/* As the config load leaves it: parsed once. */
		assert_int_equal(mr_net_parse_list(cases[i].trusted,
		    &cfg.trusted), 0);
		if (cases[i].peer) {
			snprintf(peer, sizeof(peer), "REMOTE_ADDR=%s",
			    cases[i].peer);
			env[n++] = peer;
		}
		if (cases[i].xff) {
			snprintf(xff, sizeof(xff), "HTTP_X_FORWARDED_FOR=%s",
			    cases[i].xff);
			env[n++] = xff;
		}
		env[n] = NULL;
		memset(&req, 0, sizeof(req));
		memset(&fake, 0, sizeof(fake));
		fake.envp = env;
		req.fcgx = &fake;	/* read the environment from envp */
		req.envp = env;
		mr_req_client_addr(&req, &cfg, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, out,
			    cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_valid),
		cmocka_unit_test(test_client_addr),
		cmocka_unit_test(test_route_invalid),
		cmocka_unit_test(test_route_path_len),
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_etag_matches),
		cmocka_unit_test(test_media_type),
		cmocka_unit_test(test_content_type_clean),
		cmocka_unit_test(test_inline_safe),
		cmocka_unit_test(test_content_disposition),
		cmocka_unit_test(test_content_disposition_small_buffers),
		cmocka_unit_test(test_disposition_filename),
		cmocka_unit_test(test_valid_uint),
		cmocka_unit_test(test_valid_bool),
		cmocka_unit_test(test_valid_filename),
		cmocka_unit_test(test_resp_header_no_splitting),
		cmocka_unit_test(test_resp_header_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
