/*
 * test_s3_sign: SigV4 pieces against AWS's documented examples (the
 * signing key of "Deriving the signing key" and the presigned GET of
 * "Authenticating requests: using query parameters"), the encodings
 * RGW refuses when they are off by a byte, and presigned URLs on
 * s3_public_endpoint (named by the URL and signed for its host).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sodium.h>

#include "../../common/config.h"
#include "../../common/s3.h"
#include "../../common/s3_sign.h"
#include "../../common/util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void
test_uri_encode(void **state)
{
	static const struct {
		const char *in;
		int keep_slash;
		const char *out;
	} cases[] = {
		{ "abcXYZ019-._~", 0, "abcXYZ019-._~" },
		{ "a/b", 1, "a/b" },
		{ "a/b", 0, "a%2Fb" },
		{ "d e+f=g&h", 0, "d%20e%2Bf%3Dg%26h" },
		{ "\xc3\xa9\xff", 1, "%C3%A9%FF" },
		{ "", 0, "" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		assert_int_equal(mr_s3_uri_encode(cases[i].in,
		    strlen(cases[i].in), cases[i].keep_slash, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
	}
	/* Exactly fitting, and one byte short. */
	assert_int_equal(mr_s3_uri_encode("a b", 3, 0, out, 6), 0);
	assert_string_equal(out, "a%20b");
	assert_int_equal(mr_s3_uri_encode("a b", 3, 0, out, 5), -1);
	assert_int_equal(mr_s3_uri_encode("", 0, 0, out, 0), -1);
	/* A NUL inside the length is a byte like any other. */
	assert_int_equal(mr_s3_uri_encode("a\0b", 3, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "a%00b");
}

static void
test_canonical_query(void **state)
{
	const struct mr_s3_param list[] = {
		{ "prefix", "dir/" },
		{ "list-type", "2" },
		{ "continuation-token", "1/a+b=" },
	};
	const struct mr_s3_param bare[] = { { "uploads", NULL } };
	const struct mr_s3_param part[] = {
		{ "uploadId", "2~xyz" }, { "partNumber", "10" },
	};
	/* Same name twice: sorted by value too. */
	const struct mr_s3_param dup[] = { { "a", "2" }, { "a", "1" } };
	char out[256];

	(void)state;
	assert_int_equal(mr_s3_canonical_query(list, NELEM(list), out,
	    sizeof(out)), 0);
	assert_string_equal(out, "continuation-token=1%2Fa%2Bb%3D&list-type=2&"
	    "prefix=dir%2F");
	assert_int_equal(mr_s3_canonical_query(bare, 1, out, sizeof(out)), 0);
	assert_string_equal(out, "uploads=");
	assert_int_equal(mr_s3_canonical_query(part, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "partNumber=10&uploadId=2~xyz");
	assert_int_equal(mr_s3_canonical_query(dup, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "a=1&a=2");
	assert_int_equal(mr_s3_canonical_query(NULL, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(mr_s3_canonical_query(list, NELEM(list), out, 20), -1);
}

static void
test_signing_key(void **state)
{
	unsigned char key[32];
	char hex[65];

	(void)state;
	/* AWS General Reference, "Examples of how to derive a signing key". */
	mr_s3_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
	    "us-east-1", "iam", key);
	mr_hex_encode(key, sizeof(key), hex);
	assert_string_equal(hex,
	    "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void
test_amz_date(void **state)
{
	char d[MR_S3_AMZ_DATE_LEN + 1];

	(void)state;
	mr_s3_amz_date(1369353600, d);
	assert_string_equal(d, "20130524T000000Z");
	mr_s3_amz_date(0, d);
	assert_string_equal(d, "19700101T000000Z");
}

/* The S3 documentation's example: examplebucket/test.txt for 24 hours. */
static const struct mr_s3_presign aws_example = {
	.scheme_host = "https://examplebucket.s3.amazonaws.com",
	.host = "examplebucket.s3.amazonaws.com",
	.path = "/test.txt",
	.region = "us-east-1",
	.access_key = "AKIAIOSFODNN7EXAMPLE",
	.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.amz_date = "20130524T000000Z",
	.expires_s = 86400,
};

static void
test_presign_aws_example(void **state)
{
	char url[1024];

	(void)state;
	assert_int_equal(mr_s3_presign_url(&aws_example, url, sizeof(url)), 0);
	assert_string_equal(url, "https://examplebucket.s3.amazonaws.com/test.txt"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
	    "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	    "&X-Amz-SignedHeaders=host&X-Amz-Signature="
	    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

static void
test_presign_refusals(void **state)
{
	struct mr_s3_presign p = aws_example;
	char url[1024];

	(void)state;
	p.expires_s = 0;
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), -1);
	p.expires_s = MR_S3_PRESIGN_MAX_EXPIRES + 1;
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), -1);
	p.expires_s = MR_S3_PRESIGN_MAX_EXPIRES;
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), 0);
	p.amz_date = "20130524";
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), -1);
	/* Too small a buffer for the URL. */
	assert_int_equal(mr_s3_presign_url(&aws_example, url, 100), -1);
}

/* Every input byte changes the signature: another key, another URL. */
static void
test_presign_depends_on_all(void **state)
{
	struct mr_s3_presign p = aws_example;
	char a[1024], b[1024];

	(void)state;
	assert_int_equal(mr_s3_presign_url(&p, a, sizeof(a)), 0);
	p.path = "/test.txu";
	assert_int_equal(mr_s3_presign_url(&p, b, sizeof(b)), 0);
	assert_string_not_equal(strstr(a, "Signature="),
	    strstr(b, "Signature="));
	p = aws_example;
	p.host = "examplebucket.s3.amazonaws.com:443";
	assert_int_equal(mr_s3_presign_url(&p, b, sizeof(b)), 0);
	assert_string_not_equal(strstr(a, "Signature="),
	    strstr(b, "Signature="));
}

/*
 * The Host is signed, port and all: a URL signed for the internal
 * endpoint fails when clients reach the server under another name.
 * Signatures computed apart from this code (Python's hmac and hashlib,
 * following AWS's SigV4 description).
 */
static void
test_presign_host_vectors(void **state)
{
	struct mr_s3_presign p = aws_example;
	char url[1024];

	(void)state;
	p.path = "/mediarepo/0a1b";
	p.amz_date = "20240102T030405Z";
	p.expires_s = 900;
	p.scheme_host = "https://media.example.org";
	p.host = "media.example.org";
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), 0);
	assert_string_equal(url, "https://media.example.org/mediarepo/0a1b"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240102%2Fus-east-1%2Fs3"
	    "%2Faws4_request&X-Amz-Date=20240102T030405Z&X-Amz-Expires=900"
	    "&X-Amz-SignedHeaders=host&X-Amz-Signature="
	    "625b3d426f9269d6b3e1355bb4acb0d5416b514db7ed9f5feebf0ac5b01e0f66");
	p.scheme_host = "http://10.0.0.5:7480";
	p.host = "10.0.0.5:7480";
	assert_int_equal(mr_s3_presign_url(&p, url, sizeof(url)), 0);
	assert_non_null(strstr(url, "&X-Amz-Signature="
	    "792021b1ce3083fb3117577b54bdcbc9a96a0b688e6430306901ba39d3bff5f7"));
}

/* A client of endpoint (and public, may be "") for mediarepo. */
static struct mr_s3 *
presign_client(const char *endpoint, const char *public)
{
	struct mr_config cfg;
	struct mr_s3 *s = NULL;
	struct mr_err err;

	mr_config_defaults(&cfg);
	snprintf(cfg.s3_endpoint, sizeof(cfg.s3_endpoint), "%s", endpoint);
	snprintf(cfg.s3_public_endpoint, sizeof(cfg.s3_public_endpoint), "%s",
	    public);
	snprintf(cfg.s3_bucket, sizeof(cfg.s3_bucket), "mediarepo");
	snprintf(cfg.s3_access_key_id, sizeof(cfg.s3_access_key_id), "%s",
	    aws_example.access_key);
	snprintf(cfg.s3_secret_access_key, sizeof(cfg.s3_secret_access_key),
	    "%s", aws_example.secret_key);
	if (mr_s3_new(&cfg, &s, &err) < 0)
		fail_msg("mr_s3_new: %s", err.msg);
	return s;
}

/*
 * mr_s3_presign_get's URL, checked against the signer given the host it
 * should have signed for (and the X-Amz-Date the URL carries).
 */
static void
assert_presigned_for(struct mr_s3 *s, const char *scheme_host,
    const char *host, const char *other_host)
{
	char url[2048], want[2048], date[MR_S3_AMZ_DATE_LEN + 1];
	struct mr_s3_presign p = aws_example;
	struct mr_err err;
	const char *d;

	assert_int_equal(mr_s3_presign_get(s, "0a1b", 900, url, sizeof(url),
	    &err), 0);
	assert_non_null(d = strstr(url, "X-Amz-Date="));
	snprintf(date, sizeof(date), "%s", d + strlen("X-Amz-Date="));
	p.scheme_host = scheme_host;
	p.host = host;
	p.path = "/mediarepo/0a1b";
	p.amz_date = date;
	p.expires_s = 900;
	assert_int_equal(mr_s3_presign_url(&p, want, sizeof(want)), 0);
	assert_string_equal(url, want);
	/* Signed for the other host, only the signature would differ. */
	p.host = other_host;
	assert_int_equal(mr_s3_presign_url(&p, want, sizeof(want)), 0);
	assert_string_not_equal(strstr(url, "Signature="),
	    strstr(want, "Signature="));
}

static void
test_presign_get_public_endpoint(void **state)
{
	struct mr_s3 *s;

	(void)state;
	/*
	 * Signed for what a browser sends as Host: the name in lower case,
	 * without the scheme's default port.
	 */
	s = presign_client("http://10.0.0.5:7480",
	    "https://Media.Example.org:443");
	assert_presigned_for(s, "https://media.example.org:443",
	    "media.example.org", "10.0.0.5:7480");
	mr_s3_free(s);
	s = presign_client("http://127.0.0.1:7480", "http://localhost:7480");
	assert_presigned_for(s, "http://localhost:7480", "localhost:7480",
	    "127.0.0.1:7480");
	mr_s3_free(s);
	/* Unset: the URL is on s3_endpoint, as before the key existed. */
	s = presign_client("http://10.0.0.5:7480", "");
	assert_presigned_for(s, "http://10.0.0.5:7480", "10.0.0.5:7480",
	    "media.example.org");
	mr_s3_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_canonical_query),
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_amz_date),
		cmocka_unit_test(test_presign_aws_example),
		cmocka_unit_test(test_presign_refusals),
		cmocka_unit_test(test_presign_depends_on_all),
		cmocka_unit_test(test_presign_host_vectors),
		cmocka_unit_test(test_presign_get_public_endpoint),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
