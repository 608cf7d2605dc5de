/*
 * test_xmatrix: the X-Matrix Authorization header (spec.md 4.2) as
 * valid/invalid tables, the sender's format and its round trip, and the
 * signed request object of 4.1 signed with the spec's key (5.2) against
 * signatures computed independently (Python's json.dumps and the
 * cryptography package's Ed25519).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../common/auth_xmatrix.h"
#include "../../common/json.h"
#include "../../common/keys.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define SPEC_SEED "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
#define SIG86 "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5Q" \
	"V/7Xg4ahLwYGYZzuHGZKM5ZAQ"
#define OK_TAIL "key=\"ed25519:1\",sig=\"ABC\""

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* A heap string: head, n copies of c, tail; the caller frees. */
static char *
build(const char *head, char c, size_t n, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	memset(s + hl, c, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

struct xm_valid {
	const char *header;
	const char *origin;
	const char *destination;
	const char *key;
	const char *sig;
};

static void
test_parse_valid(void **state)
{
	static const struct xm_valid cases[] = {
		/* the spec's example; its "ABCDEF..." elides the signature */
		{ "X-Matrix origin=\"origin.hs.example.com\",destination="
		    "\"destination.hs.example.com\",key=\"ed25519:key1\","
		    "sig=\"ABCDEF\"", "origin.hs.example.com",
		    "destination.hs.example.com", "ed25519:key1", "ABCDEF" },
		{ "X-Matrix origin=\"a.example\",destination=\"b.example\","
		    "key=\"ed25519:a_1\",sig=\"" SIG86 "\"", "a.example",
		    "b.example", "ed25519:a_1", SIG86 },
		/* spaces and tabs around commas, several after the scheme */
		{ "X-Matrix \t origin=\"a.example\" ,\tdestination=\"b.example\"\t"
		    ", key=\"ed25519:1\" ,  sig=\"ABC\"", "a.example", "b.example",
		    "ed25519:1", "ABC" },
		{ "X-Matrix\torigin=\"a.example\"," OK_TAIL, "a.example", "",
		    "ed25519:1", "ABC" },
		/* order and case of names do not matter, nor the scheme's case */
		{ "X-Matrix SIG=\"ABC\",KEY=\"ed25519:1\",Destination=\"b.example\","
		    "ORIGIN=\"a.example\"", "a.example", "b.example", "ed25519:1",
		    "ABC" },
		{ "x-matrix origin=\"a.example\"," OK_TAIL, "a.example", "",
		    "ed25519:1", "ABC" },
		{ "X-MATRIX origin=\"a.example\"," OK_TAIL, "a.example", "",
		    "ed25519:1", "ABC" },
		/* unquoted values, ':' in them (old senders), '/', '+', '=' */
		{ "X-Matrix origin=example.org:8448,destination=b.example:443,"
		    "key=ed25519:1,sig=AB/+cd==", "example.org:8448",
		    "b.example:443", "ed25519:1", "AB/+cd==" },
		{ "X-Matrix origin=a.example,key=ed25519:1,sig=" SIG86,
		    "a.example", "", "ed25519:1", SIG86 },
		/* quoted-pairs are unescaped */
		{ "X-Matrix origin=\"a\\.exam\\ple\",key=\"ed25519\\:1\","
		    "sig=\"A\\BC\"", "a.example", "", "ed25519:1", "ABC" },
		/* an escaped quote and a comma inside an unknown value */
		{ "X-Matrix foo=\"a\\\"b,c=d\",origin=\"a.example\"," OK_TAIL,
		    "a.example", "", "ed25519:1", "ABC" },
		/* unknown parameters ignored, quoted, unquoted or empty-quoted */
		{ "X-Matrix origin=\"a.example\",foo=bar,baz=\"qux quux\","
		    "x-y=\"\",sigs=1,keys=\"ed25519:x\"," OK_TAIL, "a.example", "",
		    "ed25519:1", "ABC" },
		{ "X-Matrix bar=\"é\",origin=\"a.example\"," OK_TAIL,
		    "a.example", "", "ed25519:1", "ABC" },
		/* optional whitespace around '=' */
		{ "X-Matrix origin = \"a.example\",key\t=\t\"ed25519:1\",sig= ABC",
		    "a.example", "", "ed25519:1", "ABC" },
		/* empty list elements, a trailing comma, trailing whitespace */
		{ "X-Matrix ,origin=\"a.example\",,key=\"ed25519:1\", ,sig=\"ABC\","
		    , "a.example", "", "ed25519:1", "ABC" },
		{ "X-Matrix origin=\"a.example\"," OK_TAIL " \t", "a.example", "",
		    "ed25519:1", "ABC" },
		{ " \tX-Matrix origin=\"a.example\"," OK_TAIL, "a.example", "",
		    "ed25519:1", "ABC" },
		/* IP literals, padded sig */
		{ "X-Matrix origin=\"[1234:5678::abcd]:8448\",destination="
		    "\"1.2.3.4\",key=\"ed25519:1\",sig=\"AB==\"",
		    "[1234:5678::abcd]:8448", "1.2.3.4", "ed25519:1", "AB==" },
		/* a 64-character key version */
		{ "X-Matrix origin=a.example,sig=A,key=\"ed25519:012345678901234"
		    "5678901234567890123456789012345678901234567890123\"",
		    "a.example", "", "ed25519:01234567890123456789012345678901234"
		    "56789012345678901234567890123", "A" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct xm_valid *c = &cases[i];
		struct mr_xmatrix x;
		struct mr_err err;

		if (mr_auth_parse_xmatrix(c->header, &x, &err) != 0)
			fail_msg("case %zu '%s' refused: %s", i, c->header,
			    err.msg);
		if (strcmp(x.origin, c->origin) != 0 ||
		    strcmp(x.destination, c->destination) != 0 ||
		    strcmp(x.key, c->key) != 0 || strcmp(x.sig, c->sig) != 0)
			fail_msg("case %zu: got '%s' '%s' '%s' '%s'", i, x.origin,
			    x.destination, x.key, x.sig);
	}
}

struct xm_invalid {
	const char *header;
	int status;
};

static void
check_invalid(const char *header, int status)
{
	struct mr_xmatrix x, zero;
	struct mr_err err;

	memset(&zero, 0, sizeof(zero));
	memset(&x, 'z', sizeof(x));
	mr_err_clear(&err);
	if (mr_auth_parse_xmatrix(header, &x, &err) != -1)
		fail_msg("'%s' accepted", header ? header : "(null)");
	if (err.status != status || strcmp(err.errcode, "M_UNAUTHORIZED") != 0)
		fail_msg("'%s': %d %s, want %d", header ? header : "(null)",
		    err.status, err.errcode, status);
	/* Nothing half-parsed is left for a careless caller. */
	assert_memory_equal(&x, &zero, sizeof(x));
}

static void
test_parse_invalid(void **state)
{
	static const struct xm_invalid cases[] = {
		/* not X-Matrix at all: 401, as a missing header */
		{ "", 401 },
		{ " \t ", 401 },
		{ "Bearer x", 401 },
		{ "Basic Zm9vOmJhcg==", 401 },
		{ "X-Matrixorigin=\"a.example\"," OK_TAIL, 401 },
		{ "X-Matrix2 origin=\"a.example\"," OK_TAIL, 401 },
		{ "XMatrix origin=\"a.example\"," OK_TAIL, 401 },
		{ "X-Matri", 401 },
		{ "X_Matrix origin=\"a.example\"," OK_TAIL, 401 },
		/* X-Matrix with nothing usable */
		{ "X-Matrix", 400 },
		{ "X-Matrix ", 400 },
		{ "X-Matrix ,", 400 },
		{ "X-Matrix ,,, , ,", 400 },
		/* missing parameters */
		{ "X-Matrix key=\"ed25519:1\",sig=\"ABC\"", 400 },
		{ "X-Matrix origin=\"a.example\",sig=\"ABC\"", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\"", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\","
		    "signature=\"ABC\"", 400 },
		/* duplicates, whatever the case */
		{ "X-Matrix origin=\"a.example\",origin=\"a.example\"," OK_TAIL,
		    400 },
		{ "X-Matrix origin=\"a.example\",ORIGIN=\"b.example\"," OK_TAIL,
		    400 },
		{ "X-Matrix origin=\"a.example\",destination=\"b.example\","
		    "Destination=\"c.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\"," OK_TAIL ",sig=\"DEF\"", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:2\"," OK_TAIL, 400 },
		/* bad values */
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:a-b\",sig=\"A\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"curve25519:1\",sig=\"A\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:\",sig=\"A\"", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"1\",sig=\"A\"", 400 },
		{ "X-Matrix origin=\"bad name\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example/x\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example:99999999\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"é.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a\\\\.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\",destination=\"b example\","
		    OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"AB.C\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"A===\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"A=B\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"A-_B\"",
		    400 },
		/* empty values */
		{ "X-Matrix origin=\"\"," OK_TAIL, 400 },
		{ "X-Matrix origin=," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\",destination=\"\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"\"", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=", 400 },
		{ "X-Matrix foo=,origin=\"a.example\"," OK_TAIL, 400 },
		/* unterminated quotes */
		{ "X-Matrix origin=\"a.example," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"ABC", 400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"ABC\\\"",
		    400 },
		{ "X-Matrix origin=\"a.example\",key=\"ed25519:1\",sig=\"ABC\\",
		    400 },
		/* control characters, raw or escaped, quoted or not */
		{ "X-Matrix origin=\"a\x01.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a\\\x01.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=a.example\x7f," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\x7f\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\"," OK_TAIL "\r\nX-Evil: 1", 400 },
		{ "X-Matrix origin=\"a.example\",\n" OK_TAIL, 400 },
		{ "X-Matrix foo=\"\x1b[31m\",origin=\"a.example\"," OK_TAIL, 400 },
		/* garbage */
		{ "X-Matrix =", 400 },
		{ "X-Matrix =\"a\"", 400 },
		{ "X-Matrix origin", 400 },
		{ "X-Matrix origin=", 400 },
		{ "X-Matrix origin==a.example," OK_TAIL, 400 },
		{ "X-Matrix origin\"=\"a.example\"," OK_TAIL, 400 },
		{ "X-Matrix \"origin\"=\"a.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\"key=\"ed25519:1\",sig=\"ABC\"", 400 },
		{ "X-Matrix origin=\"a.example\" key=\"ed25519:1\",sig=\"ABC\"", 400 },
		{ "X-Matrix origin=a.example key=ed25519:1,sig=ABC", 400 },
		{ "X-Matrix origin=a\"b\"," OK_TAIL, 400 },
		{ "X-Matrix origin=\"a.example\"\"\"," OK_TAIL, 400 },
		{ "X-Matrix origin;\"a.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin:\"a.example\"," OK_TAIL, 400 },
		{ "X-Matrix ørigin=\"a.example\"," OK_TAIL, 400 },
		{ "X-Matrix origin=a.exämple," OK_TAIL, 400 },
		{ "X-Matrix abc==", 400 },
		{ "X-Matrix \\", 400 },
		{ "X-Matrix ,=,=,=", 400 },
		{ "X-Matrix origin=(a.example)," OK_TAIL, 400 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		check_invalid(cases[i].header, cases[i].status);
	check_invalid(NULL, 401);
}

/* Each value against its buffer, and the whole header against its cap. */
static void
test_parse_lengths(void **state)
{
	struct mr_xmatrix x;
	struct mr_err err;
	char *h;

	(void)state;
	/* origin: the longest valid name fits, past MR_SERVER_NAME_MAX not */
	h = build("X-Matrix origin=\"", 'a', 255, ":65535\"," OK_TAIL);
	assert_int_equal(mr_auth_parse_xmatrix(h, &x, &err), 0);
	assert_int_equal(strlen(x.origin), 261);
	free(h);
	h = build("X-Matrix origin=", 'a', MR_SERVER_NAME_MAX + 1, "," OK_TAIL);
	check_invalid(h, 400);
	free(h);
	h = build("X-Matrix origin=a,destination=", 'b', MR_SERVER_NAME_MAX + 1,
	    "," OK_TAIL);
	check_invalid(h, 400);
	free(h);
	/* key: a version of 65 characters; and far past the buffer */
	h = build("X-Matrix origin=a,sig=A,key=ed25519:", 'k', 65, "");
	check_invalid(h, 400);
	free(h);
	h = build("X-Matrix origin=a,sig=A,key=\"ed25519:", 'k', 5000, "\"");
	check_invalid(h, 400);
	free(h);
	/* sig: 127 characters fit the buffer, 128 do not */
	h = build("X-Matrix origin=a,key=ed25519:1,sig=", 'S', 127, "");
	assert_int_equal(mr_auth_parse_xmatrix(h, &x, &err), 0);
	assert_int_equal(strlen(x.sig), 127);
	free(h);
	h = build("X-Matrix origin=a,key=ed25519:1,sig=\"", 'S', 128, "\"");
	check_invalid(h, 400);
	free(h);
	/* unknown values have no buffer; the header cap still holds */
	h = build("X-Matrix origin=a," OK_TAIL ",junk=\"", 'j', 4000, "\"");
	assert_int_equal(mr_auth_parse_xmatrix(h, &x, &err), 0);
	free(h);
	h = build("X-Matrix origin=a," OK_TAIL ",junk=\"", 'j',
	    MR_XMATRIX_HEADER_MAX, "\"");
	check_invalid(h, 400);
	free(h);
}

static void
test_format_round_trip(void **state)
{
	static const struct mr_xmatrix xs[] = {
		{ "origin.hs.example.com", "destination.hs.example.com",
		    "ed25519:key1", SIG86 },
		{ "a.example:8448", "", "ed25519:a_b", "AB/+" },
		{ "[::1]:8448", "1.2.3.4", "ed25519:1", "ABC=" },
	};
	struct mr_xmatrix back;
	struct mr_err err;
	char h[1024];

	(void)state;
	assert_int_equal(mr_auth_format_xmatrix(&xs[0], h, sizeof(h)), 0);
	assert_string_equal(h, "X-Matrix origin=\"origin.hs.example.com\","
	    "destination=\"destination.hs.example.com\",key=\"ed25519:key1\","
	    "sig=\"" SIG86 "\"");
	assert_int_equal(mr_auth_format_xmatrix(&xs[1], h, sizeof(h)), 0);
	assert_string_equal(h, "X-Matrix origin=\"a.example:8448\","
	    "key=\"ed25519:a_b\",sig=\"AB/+\"");
	for (size_t i = 0; i < NELEM(xs); i++) {
		assert_int_equal(mr_auth_format_xmatrix(&xs[i], h, sizeof(h)), 0);
		assert_int_equal(mr_auth_parse_xmatrix(h, &back, &err), 0);
		assert_string_equal(back.origin, xs[i].origin);
		assert_string_equal(back.destination, xs[i].destination);
		assert_string_equal(back.key, xs[i].key);
		assert_string_equal(back.sig, xs[i].sig);
	}
}

static void
test_format_refusals(void **state)
{
	struct mr_xmatrix x = { "a.example", "b.example", "ed25519:1", "ABC" };
	size_t need;
	char h[256];

	(void)state;
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), 0);
	need = strlen(h) + 1;
	assert_int_equal(mr_auth_format_xmatrix(&x, h, need), 0);
	assert_int_equal(mr_auth_format_xmatrix(&x, h, need - 1), -1);
	assert_string_equal(h, "");
	assert_int_equal(mr_auth_format_xmatrix(&x, h, 0), -1);

	/* what a sender would have to escape, or cannot send */
	snprintf(x.origin, sizeof(x.origin), "a\"b");
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
	snprintf(x.origin, sizeof(x.origin), "a\\b");
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
	snprintf(x.origin, sizeof(x.origin), "a b");
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
	x.origin[0] = '\0';
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
	snprintf(x.origin, sizeof(x.origin), "a.example");
	x.sig[0] = '\0';
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
	snprintf(x.sig, sizeof(x.sig), "ABC");
	memset(x.key, 'k', sizeof(x.key));	/* not terminated */
	assert_int_equal(mr_auth_format_xmatrix(&x, h, sizeof(h)), -1);
}

/* --- the signed request object --- */

struct req_case {
	const char *method;
	const char *uri;
	const char *origin;
	const char *content;	/* JSON text or NULL */
	const char *canonical;
	const char *sig;	/* by the spec key, computed in Python */
};

static const struct req_case req_cases[] = {
	{ "GET", "/_matrix/federation/v1/media/download/abcDEF123"
	    "?timeout_ms=20000", "origin.hs.example.com", NULL,
	    "{\"destination\":\"destination.hs.example.com\",\"method\":\"GET\","
	    "\"origin\":\"origin.hs.example.com\",\"uri\":\"/_matrix/federation"
	    "/v1/media/download/abcDEF123?timeout_ms=20000\"}",
	    "AofIPzqszhkM0gKTdst4cmmFKShgQoy5tAGFyugvfD6MjTHNRxmkjW+xgEYGV9Tmy"
	    "ijN3xDVF+Yb1RaOL55VAQ" },
	{ "PUT", "/_matrix/federation/v1/send/1234", "origin.hs.example.com:8448",
	    "{\"pdus\": [], \"origin\": \"origin.hs.example.com:8448\", "
	    "\"origin_server_ts\": 1700000000000, \"edus\": [{\"edu_type\": "
	    "\"m.typing\", \"content\": {\"typing\": true, \"room_id\": "
	    "\"!r:origin.hs.example.com\", \"user_id\": "
	    "\"@a:origin.hs.example.com\", \"b\": \"\\u65e5本\\/\\u007f\\n\"}}]}",
	    "{\"content\":{\"edus\":[{\"content\":{\"b\":\"日本/\x7f\\n\","
	    "\"room_id\":\"!r:origin.hs.example.com\",\"typing\":true,"
	    "\"user_id\":\"@a:origin.hs.example.com\"},\"edu_type\":\"m.typing\""
	    "}],\"origin\":\"origin.hs.example.com:8448\",\"origin_server_ts\":"
	    "1700000000000,\"pdus\":[]},\"destination\":"
	    "\"destination.hs.example.com\",\"method\":\"PUT\",\"origin\":"
	    "\"origin.hs.example.com:8448\",\"uri\":"
	    "\"/_matrix/federation/v1/send/1234\"}",
	    "BSBgGh2zDAJ39i2h80GyvXwAvW5Y6vfkpckaSvlGCge+FD4lfChS4wLOW3/Ngyfx1G9"
	    "1h9DtW8OxoEkzOpNhAg" },
};

/* The request object as a receiver rebuilds it; content parsed strictly. */
static cJSON *
req_object(const struct req_case *c, const char *origin, const char *dest,
    const char *uri)
{
	struct mr_err err;
	cJSON *content = NULL, *o;

	if (c->content != NULL)
		assert_non_null(content = mr_json_parse_strict(c->content,
		    strlen(c->content), 64, &err));
	o = mr_auth_request_object(c->method, uri, origin, dest, content);
	/* the object holds its own copy */
	cJSON_Delete(content);
	assert_non_null(o);
	return o;
}

static void
test_request_object_signed(void **state)
{
	struct mr_signing_key key;
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_keys_parse_line("ed25519 1 " SPEC_SEED, &key, &err),
	    0);
	for (size_t i = 0; i < NELEM(req_cases); i++) {
		const struct req_case *c = &req_cases[i];
		cJSON *o = req_object(c, c->origin, "destination.hs.example.com",
		    c->uri);
		char *canon, sig[90];

		assert_int_equal(mr_json_canonical(o, &canon, NULL, &err), 0);
		assert_string_equal(canon, c->canonical);
		free(canon);
		assert_int_equal(mr_keys_sign_detached(o, &key, sig, &err), 0);
		assert_string_equal(sig, c->sig);
		assert_int_equal(mr_keys_verify_json(o, key.pk, sig, &err), 0);
		cJSON_Delete(o);
	}
}

/*
 * Sender to receiver: sign, format the header, parse it, rebuild the
 * object with the receiver's own name and check. A different destination,
 * uri or origin in the rebuilt object fails with 401.
 */
static void
test_request_round_trip(void **state)
{
	const struct req_case *c = &req_cases[1];
	struct mr_signing_key key;
	struct mr_xmatrix x = { "", "", "", "" }, got;
	struct mr_err err;
	char header[512];
	cJSON *o;

	(void)state;
	assert_int_equal(mr_keys_parse_line("ed25519 1 " SPEC_SEED, &key, &err),
	    0);
	o = req_object(c, c->origin, "destination.hs.example.com", c->uri);
	assert_int_equal(mr_keys_sign_detached(o, &key, x.sig, &err), 0);
	cJSON_Delete(o);
	snprintf(x.origin, sizeof(x.origin), "%s", c->origin);
	snprintf(x.destination, sizeof(x.destination), "%s",
	    "destination.hs.example.com");
	snprintf(x.key, sizeof(x.key), "ed25519:%s", key.version);
	assert_int_equal(mr_auth_format_xmatrix(&x, header, sizeof(header)), 0);

	assert_int_equal(mr_auth_parse_xmatrix(header, &got, &err), 0);
	o = req_object(c, got.origin, "destination.hs.example.com", c->uri);
	assert_int_equal(mr_keys_verify_json(o, key.pk, got.sig, &err), 0);
	cJSON_Delete(o);

	o = req_object(c, got.origin, "other.example", c->uri);
	assert_int_equal(mr_keys_verify_json(o, key.pk, got.sig, &err), -1);
	assert_int_equal(err.status, 401);
	cJSON_Delete(o);
	o = req_object(c, got.origin, "destination.hs.example.com",
	    "/_matrix/federation/v1/send/1235");
	assert_int_equal(mr_keys_verify_json(o, key.pk, got.sig, &err), -1);
	cJSON_Delete(o);
	o = req_object(c, "evil.example", "destination.hs.example.com", c->uri);
	assert_int_equal(mr_keys_verify_json(o, key.pk, got.sig, &err), -1);
	cJSON_Delete(o);
}

static void
test_request_object_args(void **state)
{
	cJSON *empty = cJSON_CreateObject(), *o;
	struct mr_err err;
	char *canon;

	(void)state;
	assert_null(mr_auth_request_object(NULL, "/", "a", "b", NULL));
	assert_null(mr_auth_request_object("GET", NULL, "a", "b", NULL));
	assert_null(mr_auth_request_object("GET", "/", NULL, "b", NULL));
	assert_null(mr_auth_request_object("GET", "/", "a", NULL, NULL));
	/* an empty body is still a body: "content":{} is signed */
	o = mr_auth_request_object("POST", "/x", "a", "b", empty);
	assert_non_null(o);
	assert_int_equal(mr_json_canonical(o, &canon, NULL, &err), 0);
	assert_string_equal(canon, "{\"content\":{},\"destination\":\"b\","
	    "\"method\":\"POST\",\"origin\":\"a\",\"uri\":\"/x\"}");
	free(canon);
	cJSON_Delete(o);
	cJSON_Delete(empty);
}

/*
 * mr_auth_sign_xmatrix writes a header mr_auth_verify_xmatrix accepts for
 * the same request to the same server, and only for that.
 */
static void
test_sign_verify(void **state)
{
	struct mr_signing_key key;
	struct mr_xmatrix x;
	struct mr_err err;
	char h[512], tiny[16];
	cJSON *body = cJSON_Parse("{\"a\":1}");

	(void)state;
	assert_non_null(body);
	assert_int_equal(mr_keys_parse_line("ed25519 1 " SPEC_SEED, &key, &err),
	    0);
	assert_int_equal(mr_auth_sign_xmatrix(&key, "origin.example",
	    "dest.example", "POST", "/_matrix/x?y=1", body, h, sizeof(h),
	    &err), 0);
	assert_int_equal(mr_auth_parse_xmatrix(h, &x, &err), 0);
	assert_string_equal(x.origin, "origin.example");
	assert_string_equal(x.destination, "dest.example");
	assert_string_equal(x.key, "ed25519:1");
	assert_int_equal(mr_auth_verify_xmatrix(&x, key.pk, "dest.example",
	    "POST", "/_matrix/x?y=1", body, &err), 0);
	/* Another server, method, target or body: not what was signed. */
	assert_int_equal(mr_auth_verify_xmatrix(&x, key.pk, "other.example",
	    "POST", "/_matrix/x?y=1", body, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNAUTHORIZED");
	assert_int_equal(mr_auth_verify_xmatrix(&x, key.pk, "dest.example",
	    "PUT", "/_matrix/x?y=1", body, &err), -1);
	assert_int_equal(mr_auth_verify_xmatrix(&x, key.pk, "dest.example",
	    "POST", "/_matrix/x?y=2", body, &err), -1);
	assert_int_equal(mr_auth_verify_xmatrix(&x, key.pk, "dest.example",
	    "POST", "/_matrix/x?y=1", NULL, &err), -1);
	/* No room for the header: an error, and out left empty. */
	mr_err_clear(&err);
	assert_int_equal(mr_auth_sign_xmatrix(&key, "origin.example",
	    "dest.example", "GET", "/x", NULL, tiny, sizeof(tiny), &err), -1);
	assert_int_equal(err.status, 500);
	assert_string_equal(tiny, "");
	cJSON_Delete(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_refusals),
		cmocka_unit_test(test_request_object_signed),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_object_args),
		cmocka_unit_test(test_sign_verify),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
