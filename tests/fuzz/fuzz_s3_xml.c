/*
 * fuzz_s3_xml: libFuzzer target for the readers of S3's XML answers,
 * bytes that come from the S3 server (or whoever answers at its
 * address). Every reader runs on every input; besides memory errors it
 * checks the contract: keys are non-empty and within their bound, sizes
 * are not negative, a truncated page always carries a token (a list) or
 * a key marker (multipart uploads), upload ids are non-empty and bounded,
 * and an upload's time is either unknown (-1) or one the time parser
 * reads.
 *
 * ./build/fuzz/fuzz_s3_xml tests/fuzz/corpus/s3_xml
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_object(const struct mr_s3_object *o, void *arg)
{
	size_t n = strnlen(o->key, sizeof(o->key));

	(void)arg;
	if (n == 0 || n > MR_S3_KEY_MAX || o->size < 0)
		abort();
	return 0;
}

static int
check_upload(const struct mr_s3_upload *u, void *arg)
{
	size_t k = strnlen(u->key, sizeof(u->key));
	size_t i = strnlen(u->upload_id, sizeof(u->upload_id));

	(void)arg;
	if (k == 0 || k > MR_S3_KEY_MAX || i == 0 || i > MR_S3_TOKEN_MAX ||
	    u->initiated_ms < -1)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct mr_s3_list_page page;
	struct mr_s3_uploads_page up;
	char out[64];
	int64_t ms;

	if (mr_s3_xml_list(xml, size, check_object, NULL, &page) == 0 &&
	    page.truncated && page.next_token[0] == '\0')
		abort();
	if (mr_s3_xml_uploads(xml, size, check_upload, NULL, &up) == 0 &&
	    up.truncated && (up.next_key[0] == '\0' ||
	    strnlen(up.next_key, sizeof(up.next_key)) > MR_S3_KEY_MAX ||
	    strnlen(up.next_id, sizeof(up.next_id)) > MR_S3_TOKEN_MAX))
		abort();
	if (mr_s3_xml_upload_id(xml, size, out, sizeof(out)) == 0 &&
	    out[0] == '\0')
		abort();
	(void)mr_s3_xml_root_is(xml, size, "CompleteMultipartUploadResult");
	(void)mr_s3_xml_error_code(xml, size, out, sizeof(out));
	/* The time parser on the input as a string. */
	if (size < 64) {
		char s[64];

		memcpy(s, data, size);
		s[size] = '\0';
		(void)mr_s3_parse_time(s, &ms);
	}
	return 0;
}
