/*
 * test_json: canonical JSON against the spec's examples (spec.md 5.1) and
 * the escaping, number and ordering rules of 4.3, and the strict parser
 * with valid/invalid tables of hostile input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/json.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct canon_case {
	const char *in;
	const char *out;	/* NULL: refused with 400 M_BAD_JSON */
};

/* Parses in with plain cJSON, as the brief's examples do, and encodes it. */
static void
check_canon(const struct canon_case *c)
{
	struct mr_err err;
	cJSON *v = cJSON_Parse(c->in);
	char *out = (char *)"x";
	size_t len = 99;
	int rc;

	if (v == NULL)
		fail_msg("cJSON cannot parse test input '%s'", c->in);
	rc = mr_json_canonical(v, &out, &len, &err);
	if (c->out == NULL) {
		if (rc != -1 || out != NULL || err.status != 400 ||
		    strcmp(err.errcode, "M_BAD_JSON") != 0)
			fail_msg("'%s' not refused (rc %d)", c->in, rc);
	} else {
		if (rc != 0)
			fail_msg("'%s' refused: %s", c->in, err.msg);
		if (strcmp(out, c->out) != 0 || len != strlen(c->out))
			fail_msg("'%s' gave '%s', want '%s'", c->in, out, c->out);
	}
	free(out);
	cJSON_Delete(v);
}

static void
test_canonical_spec_examples(void **state)
{
	static const struct canon_case cases[] = {
		{ "{}", "{}" },
		{ "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}",
		    "{\"one\":1,\"two\":\"Two\"}" },
		{ "{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}",
		    "{\"a\":\"1\",\"b\":\"2\"}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"a\":\"1\",\"b\":\"2\"}" },
		{ "{\n"
		    "    \"auth\": {\n"
		    "        \"success\": true,\n"
		    "        \"mxid\": \"@john.doe:example.com\",\n"
		    "        \"profile\": {\n"
		    "            \"display_name\": \"John Doe\",\n"
		    "            \"three_pids\": [\n"
		    "                {\n"
		    "                    \"medium\": \"email\",\n"
		    "                    \"address\": \"john.doe@example.org\"\n"
		    "                },\n"
		    "                {\n"
		    "                    \"medium\": \"msisdn\",\n"
		    "                    \"address\": \"123456789\"\n"
		    "                }\n"
		    "            ]\n"
		    "        }\n"
		    "    }\n"
		    "}",
		    "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":"
		    "{\"display_name\":\"John Doe\",\"three_pids\":[{\"address\":"
		    "\"john.doe@example.org\",\"medium\":\"email\"},{\"address\":"
		    "\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}" },
		{ "{\"a\": \"日本語\"}", "{\"a\":\"日本語\"}" },
		{ "{\"本\": 2, \"日\": 1}", "{\"日\":1,\"本\":2}" },
		{ "{\"a\": \"\\u65E5\"}", "{\"a\":\"日\"}" },
		{ "{\"a\": null}", "{\"a\":null}" },
		{ "{\"a\": -0, \"b\": 1e10}", "{\"a\":0,\"b\":10000000000}" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		check_canon(&cases[i]);
}

static void
test_canonical_rules(void **state)
{
	static const struct canon_case cases[] = {
		/* the allowed short escapes, and \u00XX in lower case for the rest */
		{ "[\"\\\" \\\\ \\b \\t \\n \\f \\r\"]",
		    "[\"\\\" \\\\ \\b \\t \\n \\f \\r\"]" },
		{ "[\"\\u0001\\u0007\\u000B\\u000e\\u001F\\u0010\"]",
		    "[\"\\u0001\\u0007\\u000b\\u000e\\u001f\\u0010\"]" },
		/* '/', DEL and non-ASCII stay raw; escaped forms are undone */
		{ "[\"a\\/b/c\"]", "[\"a/b/c\"]" },
		{ "[\"\\u007f\x7f\"]", "[\"\x7f\x7f\"]" },
		{ "[\"\\u00e9\\ud83d\\ude00\"]", "[\"é😀\"]" },
		/* code point order: U+FF61 before U+1F600 (UTF-16 order differs) */
		{ "{\"😀\":1,\"｡\":2,\"z\":3,\"\":4,\"Z\":5}",
		    "{\"\":4,\"Z\":5,\"z\":3,\"｡\":2,\"😀\":1}" },
		{ "{\"ab\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"ab\":1,\"b\":3}" },
		/* integers at the edges of the range; -0 and 1.0 are integers */
		{ "[9007199254740991,-9007199254740991,0,-0,1.0,-1,1E2]",
		    "[9007199254740991,-9007199254740991,0,0,1,-1,100]" },
		{ "[[],{},[[]],true,false,null,\"\"]",
		    "[[],{},[[]],true,false,null,\"\"]" },
		{ "\"top\"", "\"top\"" },
		{ "42", "42" },
		{ "{\"a\":{\"c\":[3,{\"z\":1,\"y\":2}],\"b\":2}}",
		    "{\"a\":{\"b\":2,\"c\":[3,{\"y\":2,\"z\":1}]}}" },
		/* refused */
		{ "[9007199254740992]", NULL },
		{ "[-9007199254740992]", NULL },
		{ "[1.5]", NULL },
		{ "[-0.5]", NULL },
		{ "[1e400]", NULL },
		{ "[1e300]", NULL },
		{ "{\"a\":1,\"a\":2}", NULL },
		{ "{\"a\":1,\"a\":1}", NULL },
		{ "{\"x\":[{\"b\":1,\"c\":0,\"b\":2}]}", NULL },
		{ "[\"\xff\"]", NULL },
		{ "{\"\xc0\xaf\":1}", NULL },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		check_canon(&cases[i]);
}

static void
test_canonical_built(void **state)
{
	struct mr_err err;
	cJSON *a = cJSON_CreateArray(), *top, *cur;
	char *out;
	size_t len;

	(void)state;
	/* NaN, infinity and raw values only reach here from code. */
	cJSON_AddItemToArray(a, cJSON_CreateNumber(NAN));
	assert_int_equal(mr_json_canonical(a, &out, &len, &err), -1);
	assert_int_equal(err.status, 400);
	cJSON_Delete(a);
	a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, cJSON_CreateNumber(-INFINITY));
	assert_int_equal(mr_json_canonical(a, &out, &len, &err), -1);
	cJSON_Delete(a);
	a = cJSON_CreateRaw("1.5");
	assert_int_equal(mr_json_canonical(a, &out, &len, &err), -1);
	cJSON_Delete(a);
	assert_int_equal(mr_json_canonical(NULL, &out, NULL, &err), -1);
	assert_null(out);

	/* A string with an embedded newline and quote; len may be NULL. */
	a = cJSON_CreateString("a\"\n");
	assert_int_equal(mr_json_canonical(a, &out, NULL, &err), 0);
	assert_string_equal(out, "\"a\\\"\\n\"");
	free(out);
	cJSON_Delete(a);

	/* MR_JSON_DEPTH_MAX levels are fine, one more is refused. */
	top = cur = cJSON_CreateArray();
	for (int i = 1; i < MR_JSON_DEPTH_MAX; i++) {
		cJSON *next = cJSON_CreateArray();

		cJSON_AddItemToArray(cur, next);
		cur = next;
	}
	assert_int_equal(mr_json_canonical(top, &out, &len, &err), 0);
	assert_int_equal(len, 2 * MR_JSON_DEPTH_MAX);
	free(out);
	/* a scalar inside the deepest array is not another level */
	cJSON_AddItemToArray(cur, cJSON_CreateNumber(7));
	assert_int_equal(mr_json_canonical(top, &out, &len, &err), 0);
	assert_int_equal(len, 2 * MR_JSON_DEPTH_MAX + 1);
	free(out);
	cJSON_AddItemToArray(cur, cJSON_CreateArray());
	assert_int_equal(mr_json_canonical(top, &out, &len, &err), -1);
	assert_string_equal(err.errcode, "M_BAD_JSON");
	cJSON_Delete(top);
}

/* Whatever cJSON parses, at its nesting limit, can be encoded. */
static void
test_canonical_cjson_limit(void **state)
{
	size_t n = MR_JSON_DEPTH_MAX;
	char *buf = malloc(2 * n + 2), *out;
	struct mr_err err;
	size_t len;
	cJSON *v;

	(void)state;
	assert_non_null(buf);
	memset(buf, '[', n);
	buf[n] = '1';
	memset(buf + n + 1, ']', n);
	buf[2 * n + 1] = '\0';
	assert_non_null(v = cJSON_Parse(buf));
	assert_int_equal(mr_json_canonical(v, &out, &len, &err), 0);
	assert_string_equal(out, buf);
	free(out);
	cJSON_Delete(v);
	free(buf);
}

static void
test_canonical_for_signing(void **state)
{
	struct mr_err err;
	cJSON *v = cJSON_Parse("{\"unsigned\":{\"age\":1},\"b\":{\"signatures\":"
	    "1,\"unsigned\":2},\"signatures\":{\"x\":{}},\"a\":1}");
	char *out;
	size_t len;

	(void)state;
	assert_non_null(v);
	assert_int_equal(mr_json_canonical_for_signing(v, &out, &len, &err), 0);
	/* Only the top level loses them. */
	assert_string_equal(out, "{\"a\":1,\"b\":{\"signatures\":1,"
	    "\"unsigned\":2}}");
	assert_int_equal(len, strlen(out));
	free(out);
	cJSON_Delete(v);

	v = cJSON_Parse("{\"signatures\":{},\"signatures\":{},\"a\":1}");
	assert_int_equal(mr_json_canonical_for_signing(v, &out, &len, &err), -1);
	assert_null(out);
	cJSON_Delete(v);

	v = cJSON_Parse("[1]");
	assert_int_equal(mr_json_canonical_for_signing(v, &out, &len, &err), -1);
	assert_int_equal(err.status, 400);
	cJSON_Delete(v);
}

/* --- strict parsing --- */

struct parse_case {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	size_t depth;		/* max_depth; 0 means 64 */
	const char *errcode;	/* NULL: accepted */
};

static void
test_parse_strict(void **state)
{
	static const struct parse_case cases[] = {
		{ "{}", 0, 0, NULL },
		{ " \t\r\n[1, 2]\n ", 0, 0, NULL },
		{ "\"x\"", 0, 0, NULL },
		{ "0", 0, 0, NULL },
		{ "-0", 0, 0, NULL },
		{ "1e5", 0, 0, NULL },
		{ "-1.5E-3", 0, 0, NULL },
		{ "0.5e+2", 0, 0, NULL },
		{ "[true,false,null]", 0, 0, NULL },
		{ "\"\\\\u0000\"", 0, 0, NULL },	/* a backslash, then text */
		{ "\"é日😀\x7f\"", 0, 0, NULL },
		{ "{\"a\":{\"b\":[]}}", 0, 3, NULL },
		{ "[1]garbage", 3, 0, NULL },		/* only len bytes count */
		{ "{\"a\":1,\"A\":2}", 0, 0, NULL },
		/* not JSON */
		{ "", 0, 0, "M_NOT_JSON" },
		{ "   ", 0, 0, "M_NOT_JSON" },
		{ "{", 0, 0, "M_NOT_JSON" },
		{ "[1]]", 0, 0, "M_NOT_JSON" },
		{ "[1] x", 0, 0, "M_NOT_JSON" },
		{ "[1]\0", 4, 0, "M_NOT_JSON" },
		{ "[\"a\0b\"]", 7, 0, "M_NOT_JSON" },
		{ "01", 0, 0, "M_NOT_JSON" },
		{ "[-01]", 0, 0, "M_NOT_JSON" },
		{ "1.", 0, 0, "M_NOT_JSON" },
		{ "-.5", 0, 0, "M_NOT_JSON" },
		{ "-", 0, 0, "M_NOT_JSON" },
		{ "1e", 0, 0, "M_NOT_JSON" },
		{ "1e+", 0, 0, "M_NOT_JSON" },
		{ "1.2.3", 0, 0, "M_NOT_JSON" },
		{ "+1", 0, 0, "M_NOT_JSON" },
		{ "NaN", 0, 0, "M_NOT_JSON" },
		{ "Infinity", 0, 0, "M_NOT_JSON" },
		{ "[1,]", 0, 0, "M_NOT_JSON" },
		{ "{'a':1}", 0, 0, "M_NOT_JSON" },
		{ "\"\x01\"", 0, 0, "M_NOT_JSON" },
		{ "\"a\tb\"", 0, 0, "M_NOT_JSON" },
		{ "\"\xff\"", 0, 0, "M_NOT_JSON" },
		{ "\"\xc0\xaf\"", 0, 0, "M_NOT_JSON" },		/* overlong '/' */
		{ "\"\xed\xa0\x80\"", 0, 0, "M_NOT_JSON" },	/* surrogate */
		{ "\"\xf4\x90\x80\x80\"", 0, 0, "M_NOT_JSON" },	/* > U+10FFFF */
		{ "\"\xe6\x97\"", 0, 0, "M_NOT_JSON" },		/* cut short */
		{ "{\"\xff\":1}", 0, 0, "M_NOT_JSON" },
		{ "\"\\ud800\"", 0, 0, "M_NOT_JSON" },
		{ "\"\\udc00\\ud800\"", 0, 0, "M_NOT_JSON" },
		{ "\"\\x41\"", 0, 0, "M_NOT_JSON" },
		{ "\"abc", 0, 0, "M_NOT_JSON" },
		/* JSON we refuse */
		{ "\"\\u0000\"", 0, 0, "M_BAD_JSON" },
		{ "{\"a\":1,\"a\":2}", 0, 0, "M_BAD_JSON" },
		{ "[{\"k\":[{\"a\":1,\"b\":1,\"a\":1}]}]", 0, 0, "M_BAD_JSON" },
		{ "[[[1]]]", 0, 2, "M_BAD_JSON" },
		{ "{\"a\":{\"b\":{}}}", 0, 2, "M_BAD_JSON" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct parse_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct mr_err err;
		cJSON *v;

		mr_err_clear(&err);
		v = mr_json_parse_strict(c->in, len, c->depth ? c->depth : 64,
		    &err);
		if (c->errcode == NULL && v == NULL)
			fail_msg("case %zu refused: %s", i, err.msg);
		if (c->errcode != NULL && (v != NULL || err.status != 400 ||
		    strcmp(err.errcode, c->errcode) != 0))
			fail_msg("case %zu: got %s, want %s", i,
			    v ? "success" : err.errcode, c->errcode);
		cJSON_Delete(v);
	}
}

/* Deep input is refused before cJSON recurses into it. */
static void
test_parse_strict_deep(void **state)
{
	size_t n = 100000;
	char *buf = malloc(2 * n);
	struct mr_err err;
	cJSON *v;

	(void)state;
	assert_non_null(buf);
	memset(buf, '[', n);
	memset(buf + n, ']', n);
	assert_null(mr_json_parse_strict(buf, 2 * n, 100, &err));
	assert_string_equal(err.errcode, "M_BAD_JSON");
	/* Exactly max_depth levels are accepted. */
	v = mr_json_parse_strict(buf + n - 100, 200, 100, &err);
	assert_non_null(v);
	cJSON_Delete(v);
	free(buf);
}

/* Parsed, encoded, parsed and encoded again: the same bytes. */
static void
test_parse_then_canonical(void **state)
{
	const char *in = "{ \"z\": [1, -2, {\"b\": \"\\u00e9\\n\", \"a\": null}],"
	    " \"a\": \"\\/x\" }";
	const char *want = "{\"a\":\"/x\",\"z\":[1,-2,{\"a\":null,"
	    "\"b\":\"é\\n\"}]}";
	struct mr_err err;
	cJSON *v, *w;
	char *out, *out2;
	size_t len, len2;

	(void)state;
	assert_non_null(v = mr_json_parse_strict(in, strlen(in), 8, &err));
	assert_int_equal(mr_json_canonical(v, &out, &len, &err), 0);
	assert_string_equal(out, want);
	assert_non_null(w = mr_json_parse_strict(out, len, 8, &err));
	assert_int_equal(mr_json_canonical(w, &out2, &len2, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(out, out2, len);
	free(out);
	free(out2);
	cJSON_Delete(v);
	cJSON_Delete(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_spec_examples),
		cmocka_unit_test(test_canonical_rules),
		cmocka_unit_test(test_canonical_built),
		cmocka_unit_test(test_canonical_cjson_limit),
		cmocka_unit_test(test_canonical_for_signing),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_parse_strict_deep),
		cmocka_unit_test(test_parse_then_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
