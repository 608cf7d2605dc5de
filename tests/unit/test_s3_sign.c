/*
 * test_s3_sign: SigV4 pieces against AWS's documented examples (the
 * signing key of "Deriving the signing key" and the presigned GET of
 * "Authenticating requests: using query parameters"), and the encodings
 * RGW refuses when they are off by a byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sodium.h>

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
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
