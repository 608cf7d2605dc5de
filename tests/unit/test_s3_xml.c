/*
 * test_s3_xml: S3 answers as RGW and AWS write them, and the malformed
 * ones the backend must refuse rather than half-read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/s3_xml.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define HEX64 "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"

struct seen {
	int n;
	struct mr_s3_object o[4];
	int stop_after;
};

static int
collect(const struct mr_s3_object *o, void *arg)
{
	struct seen *s = arg;

	if (s->n < 4)
		s->o[s->n] = *o;
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static int
list(const char *xml, struct seen *s, struct mr_s3_list_page *page)
{
	return mr_s3_xml_list(xml, strlen(xml), collect, s, page);
}

static void
test_list_page(void **state)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Name>b</Name><IsTruncated>true</IsTruncated>"
	    "<NextContinuationToken>1ue/x+y=</NextContinuationToken>"
	    "<Contents><Key>" HEX64 "</Key>"
	    "<LastModified>2013-05-24T00:00:00.123Z</LastModified>"
	    "<ETag>&quot;x&quot;</ETag><Size>11</Size></Contents>"
	    "<Contents><Key>a &amp; b</Key><Size>0</Size>"
	    "<LastModified>yesterday</LastModified></Contents>"
	    "</ListBucketResult>";
	struct mr_s3_list_page page;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(list(xml, &s, &page), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(page.count, 2);
	assert_true(page.truncated);
	assert_string_equal(page.next_token, "1ue/x+y=");
	assert_string_equal(s.o[0].key, HEX64);
	assert_int_equal(s.o[0].size, 11);
	assert_int_equal(s.o[0].mtime_ms, INT64_C(1369353600123));
	assert_string_equal(s.o[1].key, "a & b");
	assert_int_equal(s.o[1].mtime_ms, 0);
	/* The callback may stop the page. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(list(xml, &s, &page), 0);
	assert_int_equal(s.n, 1);
	assert_true(page.stopped);
}

static void
test_list_last_page(void **state)
{
	struct mr_s3_list_page page;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(list("<ListBucketResult><IsTruncated>false"
	    "</IsTruncated></ListBucketResult>", &s, &page), 0);
	assert_int_equal(s.n, 0);
	assert_false(page.truncated);
	/* No IsTruncated at all: the last page. */
	assert_int_equal(list("<ListBucketResult/>", &s, &page), 0);
	assert_false(page.truncated);
}

static void
test_list_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"not xml",
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Size>1</Size></Contents>"
		    "</ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key></Contents>"
		    "</ListBucketResult>",
		"<ListBucketResult><Contents><Key></Key><Size>1</Size>"
		    "</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
		    "</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1x</Size>"
		    "</Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		    "</ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
		    "</Contents>",
	};
	struct mr_s3_list_page page;
	struct seen s = { 0 };

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++)
		assert_int_equal(list(bad[i], &s, &page), -1);
}

static void
test_list_long_key(void **state)
{
	static char xml[MR_S3_KEY_MAX + 200];
	struct mr_s3_list_page page;
	struct seen s = { 0 };
	size_t o;

	(void)state;
	o = (size_t)snprintf(xml, sizeof(xml), "<ListBucketResult><Contents>"
	    "<Key>");
	memset(xml + o, 'k', MR_S3_KEY_MAX + 1);
	o += MR_S3_KEY_MAX + 1;
	snprintf(xml + o, sizeof(xml) - o, "</Key><Size>1</Size></Contents>"
	    "</ListBucketResult>");
	assert_int_equal(list(xml, &s, &page), -1);
	/* One byte shorter fits. */
	memmove(xml + o - 1, xml + o, strlen(xml + o) + 1);
	assert_int_equal(list(xml, &s, &page), 0);
	assert_int_equal(strlen(s.o[0].key), MR_S3_KEY_MAX);
}

/* A DTD (entities that would expand) is refused outright. */
static void
test_entities_not_expanded(void **state)
{
	const char *xml = "<?xml version=\"1.0\"?><!DOCTYPE a ["
	    "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
	    "<ListBucketResult><Contents><Key>&b;</Key><Size>1</Size>"
	    "</Contents></ListBucketResult>";
	struct mr_s3_list_page page;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(list(xml, &s, &page), -1);
	assert_int_equal(s.n, 0);
	assert_int_equal(mr_s3_xml_list("<!DOCTYPE a><ListBucketResult/>", 31,
	    collect, &s, &page), -1);
}

static void
test_upload_id(void **state)
{
	const char *ok = "<InitiateMultipartUploadResult xmlns=\"x\">"
	    "<Bucket>b</Bucket><Key>k</Key><UploadId>2~abc</UploadId>"
	    "</InitiateMultipartUploadResult>";
	char id[16];

	(void)state;
	assert_int_equal(mr_s3_xml_upload_id(ok, strlen(ok), id, sizeof(id)), 0);
	assert_string_equal(id, "2~abc");
	assert_int_equal(mr_s3_xml_upload_id(ok, strlen(ok), id, 5), -1);
	assert_int_equal(mr_s3_xml_upload_id("<Error/>", 8, id, sizeof(id)), -1);
	assert_int_equal(mr_s3_xml_upload_id("<InitiateMultipartUploadResult>"
	    "<UploadId></UploadId></InitiateMultipartUploadResult>", 76, id,
	    sizeof(id)), -1);
}

static void
test_root_and_error(void **state)
{
	const char *err = "<?xml version=\"1.0\"?><Error><Code>InternalError"
	    "</Code><Message>m</Message></Error>";
	char code[32];

	(void)state;
	assert_int_equal(mr_s3_xml_root_is(err, strlen(err),
	    "CompleteMultipartUploadResult"), 0);
	assert_int_equal(mr_s3_xml_root_is(err, strlen(err), "Error"), 1);
	assert_int_equal(mr_s3_xml_root_is("x", 1, "Error"), -1);
	assert_int_equal(mr_s3_xml_error_code(err, strlen(err), code,
	    sizeof(code)), 0);
	assert_string_equal(code, "InternalError");
	assert_int_equal(mr_s3_xml_error_code("<Error/>", 8, code,
	    sizeof(code)), -1);
}

static void
test_parse_time(void **state)
{
	static const struct { const char *s; int64_t ms; } good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2013-05-24T00:00:00.5Z", INT64_C(1369353600500) },
		{ "2013-05-24T00:00:00.123456Z", INT64_C(1369353600123) },
	};
	static const char *const bad[] = {
		"", "2013-05-24", "2013-05-24T00:00:00", "2013-05-24T00:00:00.Z",
		"2013-13-24T00:00:00Z", "2013-05-24T24:00:00Z",
		"2013-05-24T00:00:00+01:00", "2013-05-24 00:00:00Z",
		"20x3-05-24T00:00:00Z",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < NELEM(good); i++) {
		assert_int_equal(mr_s3_parse_time(good[i].s, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < NELEM(bad); i++)
		assert_int_equal(mr_s3_parse_time(bad[i], &ms), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_page),
		cmocka_unit_test(test_list_last_page),
		cmocka_unit_test(test_list_refused),
		cmocka_unit_test(test_list_long_key),
		cmocka_unit_test(test_entities_not_expanded),
		cmocka_unit_test(test_upload_id),
		cmocka_unit_test(test_root_and_error),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
