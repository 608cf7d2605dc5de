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

/* --- ListMultipartUploads --- */

struct ups {
	int n;
	struct mr_s3_upload u[3];
	int stop_after;
};

static int
collect_upload(const struct mr_s3_upload *u, void *arg)
{
	struct ups *s = arg;

	if (s->n < 3)
		s->u[s->n] = *u;
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static int
uploads(const char *xml, struct ups *s, struct mr_s3_uploads_page *page)
{
	memset(s, 0, sizeof(*s));
	return mr_s3_xml_uploads(xml, strlen(xml), collect_upload, s, page);
}

/* As RGW writes a page: owner, initiator and storage class around. */
static void
test_uploads_page(void **state)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<ListMultipartUploadsResult "
	    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Bucket>b</Bucket><NextKeyMarker>" HEX64 "</NextKeyMarker>"
	    "<NextUploadIdMarker>2~B</NextUploadIdMarker>"
	    "<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>"
	    "<Upload><Key>a &amp; b</Key><UploadId>2~A</UploadId>"
	    "<Initiator><ID>x</ID></Initiator><StorageClass>STANDARD"
	    "</StorageClass><Initiated>2013-05-24T00:00:00.123Z</Initiated>"
	    "</Upload>"
	    "<Upload><Key>" HEX64 "</Key><UploadId>2~B</UploadId>"
	    "<Initiated>1970-01-01T00:00:01Z</Initiated></Upload>"
	    "</ListMultipartUploadsResult>";
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	assert_int_equal(uploads(xml, &s, &page), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(page.count, 2);
	assert_true(page.truncated);
	assert_string_equal(page.next_key, HEX64);
	assert_string_equal(page.next_id, "2~B");
	assert_string_equal(s.u[0].key, "a & b");
	assert_string_equal(s.u[0].upload_id, "2~A");
	assert_int_equal(s.u[0].initiated_ms, INT64_C(1369353600123));
	assert_string_equal(s.u[1].key, HEX64);
	assert_int_equal(s.u[1].initiated_ms, 1000);
	/* The callback may stop the page. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(mr_s3_xml_uploads(xml, strlen(xml), collect_upload,
	    &s, &page), 0);
	assert_int_equal(s.n, 1);
	assert_true(page.stopped);
}

static void
test_uploads_last_and_empty(void **state)
{
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	/* An empty bucket's answer, as RGW gives it. */
	assert_int_equal(uploads("<ListMultipartUploadsResult><Bucket>b"
	    "</Bucket><NextKeyMarker></NextKeyMarker><NextUploadIdMarker>"
	    "</NextUploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>"
	    "false</IsTruncated></ListMultipartUploadsResult>", &s, &page), 0);
	assert_int_equal(s.n, 0);
	assert_false(page.truncated);
	assert_int_equal(uploads("<ListMultipartUploadsResult/>", &s, &page),
	    0);
	assert_false(page.truncated);
	/* Truncated with a key but no id marker: continued by key alone. */
	assert_int_equal(uploads("<ListMultipartUploadsResult><IsTruncated>"
	    "true</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
	    "</ListMultipartUploadsResult>", &s, &page), 0);
	assert_true(page.truncated);
	assert_string_equal(page.next_key, "k");
	assert_string_equal(page.next_id, "");
}

/* A date that cannot be read leaves the age unknown, not ancient. */
static void
test_uploads_bad_dates(void **state)
{
	static const char *const when[] = {
		"", "<Initiated>yesterday</Initiated>",
		"<Initiated></Initiated>",
		"<Initiated>2013-05-24T00:00:00+01:00</Initiated>",
		"<Initiated>2013-02-30T99:00:00Z</Initiated>",
		"<Initiated>0000-00-00T00:00:00Z</Initiated>",
		"<Initiated>1969-12-31T23:59:59Z</Initiated>",
	};
	struct mr_s3_uploads_page page;
	struct ups s;
	char xml[512];

	(void)state;
	for (size_t i = 0; i < NELEM(when); i++) {
		snprintf(xml, sizeof(xml), "<ListMultipartUploadsResult><Upload>"
		    "<Key>k</Key><UploadId>u</UploadId>%s</Upload>"
		    "</ListMultipartUploadsResult>", when[i]);
		assert_int_equal(uploads(xml, &s, &page), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.u[0].initiated_ms, -1);
	}
}

static void
test_uploads_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"not xml",
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult/>",
		"<ListMultipartUploadsResult><Upload><UploadId>u</UploadId>"
		    "</Upload></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
		    "</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><Upload><Key></Key><UploadId>u"
		    "</UploadId></Upload></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>"
		    "</UploadId></Upload></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		    "</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		    "<NextKeyMarker></NextKeyMarker>"
		    "</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u"
		    "</UploadId></Upload>",
	};
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++)
		assert_int_equal(uploads(bad[i], &s, &page), -1);
}

/* A bad upload anywhere in a page: fn sees none of the page. */
static void
test_uploads_checked_whole(void **state)
{
	const char *xml = "<ListMultipartUploadsResult>"
	    "<Upload><Key>k</Key><UploadId>u1</UploadId></Upload>"
	    "<Upload><Key>k</Key></Upload></ListMultipartUploadsResult>";
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	assert_int_equal(uploads(xml, &s, &page), -1);
	assert_int_equal(s.n, 0);
	assert_int_equal(page.count, 0);
}

static void
test_uploads_long_values(void **state)
{
	static char xml[MR_S3_KEY_MAX + MR_S3_TOKEN_MAX + 400];
	static const char *const wrap[][2] = {
		{ "<ListMultipartUploadsResult><Upload><Key>",
		  "</Key><UploadId>u</UploadId></Upload>"
		  "</ListMultipartUploadsResult>" },
		{ "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>",
		  "</UploadId></Upload></ListMultipartUploadsResult>" },
		{ "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		  "<NextKeyMarker>", "</NextKeyMarker>"
		  "</ListMultipartUploadsResult>" },
		{ "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		  "<NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>",
		  "</NextUploadIdMarker></ListMultipartUploadsResult>" },
	};
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	/* MR_S3_KEY_MAX == MR_S3_TOKEN_MAX: one length tries every bound. */
	for (size_t i = 0; i < NELEM(wrap); i++) {
		size_t o = (size_t)snprintf(xml, sizeof(xml), "%s", wrap[i][0]);

		memset(xml + o, 'v', MR_S3_KEY_MAX + 1);
		o += MR_S3_KEY_MAX + 1;
		snprintf(xml + o, sizeof(xml) - o, "%s", wrap[i][1]);
		assert_int_equal(uploads(xml, &s, &page), -1);
		/* One byte shorter fits. */
		memmove(xml + o - 1, xml + o, strlen(xml + o) + 1);
		assert_int_equal(uploads(xml, &s, &page), 0);
	}
	assert_int_equal(strlen(page.next_id), MR_S3_TOKEN_MAX);
}

static void
test_uploads_entities(void **state)
{
	const char *xml = "<?xml version=\"1.0\"?><!DOCTYPE a ["
	    "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
	    "<ListMultipartUploadsResult><Upload><Key>&b;</Key><UploadId>u"
	    "</UploadId></Upload></ListMultipartUploadsResult>";
	const char *chars = "<ListMultipartUploadsResult><Upload><Key>"
	    "&#x61;&lt;&gt;</Key><UploadId>&quot;u&apos;</UploadId></Upload>"
	    "</ListMultipartUploadsResult>";
	struct mr_s3_uploads_page page;
	struct ups s;

	(void)state;
	assert_int_equal(uploads(xml, &s, &page), -1);
	assert_int_equal(s.n, 0);
	/* The predefined ones and character references are plain text. */
	assert_int_equal(uploads(chars, &s, &page), 0);
	assert_string_equal(s.u[0].key, "a<>");
	assert_string_equal(s.u[0].upload_id, "\"u'");
	/* An undeclared entity is not well-formed. */
	assert_int_equal(uploads("<ListMultipartUploadsResult><Upload><Key>"
	    "&x;</Key><UploadId>u</UploadId></Upload>"
	    "</ListMultipartUploadsResult>", &s, &page), -1);
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
		cmocka_unit_test(test_uploads_page),
		cmocka_unit_test(test_uploads_last_and_empty),
		cmocka_unit_test(test_uploads_bad_dates),
		cmocka_unit_test(test_uploads_refused),
		cmocka_unit_test(test_uploads_checked_whole),
		cmocka_unit_test(test_uploads_long_values),
		cmocka_unit_test(test_uploads_entities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
