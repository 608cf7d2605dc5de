/*
 * test_log: the request log line, as text and as JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "../../common/log.h"

/* 2026-01-02T03:04:05.678Z */
#define T_MS INT64_C(1767323045678)

static struct mr_log_fields
sample(void)
{
	struct mr_log_fields f = {
		.time_ms = T_MS,
		.program = "upload",
		.id = "0123456789abcdef",
		.client = "192.0.2.7",
		.user = "@alice:example.org",
		.method = "POST",
		.path = "/_matrix/media/v3/upload",
		.status = 429,
		.bytes = 97,
		.duration_ms = 12,
		.cause = "M_LIMIT_EXCEEDED too many uploads limit=uploads_per_user",
	};
	return f;
}

static void
test_time(void **state)
{
	char buf[32];

	(void)state;
	mr_log_time(T_MS, buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-02T03:04:05.678Z");
	mr_log_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

static void
test_text(void **state)
{
	struct mr_log_fields f = sample();
	char buf[1024];
	size_t n;

	(void)state;
	n = mr_log_format_line(&f, MR_LOG_TEXT, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
	    "mediarepo upload 0123456789abcdef: POST /_matrix/media/v3/upload "
	    "429 97 12ms time=2026-01-02T03:04:05.678Z client=192.0.2.7 "
	    "user=@alice:example.org M_LIMIT_EXCEEDED too many uploads "
	    "limit=uploads_per_user");
}

/* No user, no cause, hostile bytes: one line, nothing unescaped. */
static void
test_text_missing_and_hostile(void **state)
{
	struct mr_log_fields f = sample();
	char buf[1024];

	(void)state;
	f.user = NULL;
	f.cause = "";
	f.status = 200;
	f.path = "/a\nb\\c";
	f.client = NULL;
	mr_log_format_line(&f, MR_LOG_TEXT, buf, sizeof(buf));
	assert_string_equal(buf,
	    "mediarepo upload 0123456789abcdef: POST /a\\x0ab\\x5cc "
	    "200 97 12ms time=2026-01-02T03:04:05.678Z client=- user=-");
}

static void
test_text_cut(void **state)
{
	struct mr_log_fields f = sample();
	char buf[20];

	(void)state;
	assert_int_equal(mr_log_format_line(&f, MR_LOG_TEXT, buf, sizeof(buf)),
	    19);
	assert_string_equal(buf, "mediarepo upload 01");
}

static void
test_json(void **state)
{
	struct mr_log_fields f = sample();
	char buf[1024];
	cJSON *o;

	(void)state;
	mr_log_format_line(&f, MR_LOG_JSON, buf, sizeof(buf));
	assert_null(strchr(buf, '\n'));
	o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "time")->valuestring,
	    "2026-01-02T03:04:05.678Z");
	assert_string_equal(cJSON_GetObjectItem(o, "program")->valuestring,
	    "upload");
	assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring,
	    "0123456789abcdef");
	assert_string_equal(cJSON_GetObjectItem(o, "client")->valuestring,
	    "192.0.2.7");
	assert_string_equal(cJSON_GetObjectItem(o, "user")->valuestring,
	    "@alice:example.org");
	assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring,
	    "POST");
	assert_string_equal(cJSON_GetObjectItem(o, "path")->valuestring,
	    "/_matrix/media/v3/upload");
	assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, 429);
	assert_int_equal(cJSON_GetObjectItem(o, "bytes")->valueint, 97);
	assert_int_equal(cJSON_GetObjectItem(o, "duration_ms")->valueint, 12);
	assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring,
	    "M_LIMIT_EXCEEDED too many uploads limit=uploads_per_user");
	cJSON_Delete(o);
}

static void
test_json_missing_and_hostile(void **state)
{
	struct mr_log_fields f = sample();
	char buf[1024];
	cJSON *o;

	(void)state;
	f.user = "";
	f.cause = NULL;
	f.path = "/\"x\"\n";
	mr_log_format_line(&f, MR_LOG_JSON, buf, sizeof(buf));
	assert_null(strchr(buf, '\n'));
	o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "user")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "error")));
	assert_string_equal(cJSON_GetObjectItem(o, "path")->valuestring,
	    "/\"x\"\\x0a");
	cJSON_Delete(o);
}

/* Too long for the buffer: still one JSON object, never half of one. */
static void
test_json_cut(void **state)
{
	struct mr_log_fields f = sample();
	char buf[80];
	cJSON *o;

	(void)state;
	mr_log_format_line(&f, MR_LOG_JSON, buf, sizeof(buf));
	o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "program")->valuestring,
	    "upload");
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_missing_and_hostile),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_missing_and_hostile),
		cmocka_unit_test(test_json_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
