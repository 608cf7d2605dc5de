/*
 * test_multipart: the writer's exact text, writer-to-parser round trips
 * under every chunking, the spec.md 3.1 examples verbatim, and tables of
 * Content-Type values and malformed bodies.
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

#include "../../common/multipart.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SPEC_B "gc0p4Jq0M2Yt08jU534c0p"

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* --- a handler that records every callback --- */

struct rec {
	char log[4096];		/* events other than body bytes, in order */
	unsigned char *body;	/* part 2 bytes, joined */
	size_t body_len;
	size_t body_cap;
	size_t json_len;
	int started;
	int fail_at;		/* 'J', 'H', 'S', 'B': that callback fails */
};

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

static void
rec_release(struct rec *r)
{
	free(r->body);
}

static void
rec_log(struct rec *r, const char *fmt, ...)
{
	size_t n = strlen(r->log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->log + n, sizeof(r->log) - n, fmt, ap);
	va_end(ap);
}

static int
rec_fail(struct rec *r, int which, struct mr_err *err)
{
	if (r->fail_at != which)
		return 0;
	return mr_err_set(err, 418, "M_TEST", "callback %c failed", which);
}

static int
rec_json(void *arg, const char *json, size_t len, struct mr_err *err)
{
	struct rec *r = arg;

	assert_int_equal(strlen(json), len);
	assert_int_equal(r->started, 0);
	r->json_len = len;
	rec_log(r, "J[%s]", json);
	return rec_fail(r, 'J', err);
}

static int
rec_header(void *arg, const char *name, const char *value,
    struct mr_err *err)
{
	struct rec *r = arg;

	assert_int_equal(r->started, 0);
	rec_log(r, "H[%s|%s]", name, value);
	return rec_fail(r, 'H', err);
}

static int
rec_start(void *arg, struct mr_err *err)
{
	struct rec *r = arg;

	assert_int_equal(r->started, 0);
	r->started = 1;
	rec_log(r, "S");
	return rec_fail(r, 'S', err);
}

static int
rec_body(void *arg, const void *buf, size_t len, struct mr_err *err)
{
	struct rec *r = arg;

	assert_int_equal(r->started, 1);
	assert_true(len > 0);
	if (r->body_len + len > r->body_cap) {
		r->body_cap = (r->body_len + len) * 2;
		r->body = realloc(r->body, r->body_cap);
		assert_non_null(r->body);
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	return rec_fail(r, 'B', err);
}

/*
 * Parses msg fed in pieces of chunk bytes (0: all at once). Returns 0, or
 * -1 with *at_finish telling whether feed or finish failed.
 */
static int
parse(const char *boundary, const void *msg, size_t len, size_t chunk,
    struct rec *r, struct mr_err *err, int *at_finish)
{
	struct mr_multipart_handler h = { rec_json, rec_header, rec_start,
	    rec_body, r };
	struct mr_multipart_parser *p;
	const unsigned char *m = msg;
	int rc = 0;

	if (at_finish != NULL)
		*at_finish = 0;
	assert_int_equal(mr_multipart_parser_new(&p, boundary, &h, err), 0);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	for (size_t off = 0; off < len && rc == 0; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = mr_multipart_parser_feed(p, m + off, n, err);
	}
	if (rc == 0) {
		rc = mr_multipart_parser_finish(p, err);
		if (at_finish != NULL)
			*at_finish = 1;
	}
	mr_multipart_parser_free(p);
	return rc;
}

/* Builds writer output around body into a heap buffer. */
static char *
wrap(const char *b, const void *body, size_t blen, size_t *outlen)
{
	char head[512], tail[128];
	int hn = mr_multipart_head(head, sizeof(head), b, "image/png",
	    "inline; filename=\"a.png\"");
	int tn = mr_multipart_tail(tail, sizeof(tail), b);
	char *m;

	assert_true(hn > 0 && tn > 0);
	m = malloc((size_t)hn + blen + (size_t)tn);
	assert_non_null(m);
	memcpy(m, head, (size_t)hn);
	if (blen > 0)
		memcpy(m + hn, body, blen);
	memcpy(m + hn + blen, tail, (size_t)tn);
	*outlen = (size_t)hn + blen + (size_t)tn;
	return m;
}

/* Round trip at one chunk size; the body and events must come back. */
static void
round_trip_at(const char *b, const void *body, size_t blen, size_t chunk)
{
	struct mr_err err;
	struct rec r;
	size_t mlen;
	char *m = wrap(b, body, blen, &mlen);

	rec_init(&r);
	assert_int_equal(parse(b, m, mlen, chunk, &r, &err, NULL), 0);
	assert_string_equal(r.log, "J[{}]H[Content-Type|image/png]"
	    "H[Content-Disposition|inline; filename=\"a.png\"]S");
	assert_int_equal(r.body_len, blen);
	if (blen > 0)
		assert_memory_equal(r.body, body, blen);
	rec_release(&r);
	free(m);
}

static void
round_trip(const char *b, const void *body, size_t blen)
{
	for (size_t chunk = 0; chunk <= 20; chunk++)
		round_trip_at(b, body, blen, chunk);
}

/* --- writer --- */

static void
test_boundary(void **state)
{
	char a[MR_MULTIPART_BOUNDARY_LEN + 1], b[MR_MULTIPART_BOUNDARY_LEN + 1];

	(void)state;
	for (int k = 0; k < 200; k++) {
		mr_multipart_boundary(a);
		assert_int_equal(strlen(a), MR_MULTIPART_BOUNDARY_LEN);
		for (size_t i = 0; i < MR_MULTIPART_BOUNDARY_LEN; i++)
			assert_true((a[i] >= 'A' && a[i] <= 'Z') ||
			    (a[i] >= 'a' && a[i] <= 'z') ||
			    (a[i] >= '0' && a[i] <= '9'));
	}
	mr_multipart_boundary(b);
	assert_string_not_equal(a, b);
}

static void
test_writer_text(void **state)
{
	static const char head[] =
	    "--B1\r\nContent-Type: application/json\r\n\r\n{}\r\n"
	    "--B1\r\nContent-Type: text/plain\r\n"
	    "Content-Disposition: inline\r\n\r\n";
	static const char loc[] =
	    "--B1\r\nContent-Type: application/json\r\n\r\n{}\r\n"
	    "--B1\r\nLocation: https://cdn.example.org/x\r\n\r\n\r\n--B1--\r\n";
	char buf[512];

	(void)state;
	assert_int_equal(mr_multipart_head(buf, sizeof(buf), "B1",
	    "text/plain", "inline"), (int)strlen(head));
	assert_string_equal(buf, head);
	assert_int_equal(mr_multipart_tail(buf, sizeof(buf), "B1"), 10);
	assert_string_equal(buf, "\r\n--B1--\r\n");
	assert_int_equal(mr_multipart_location(buf, sizeof(buf), "B1",
	    "https://cdn.example.org/x"), (int)strlen(loc));
	assert_string_equal(buf, loc);

	/* The exact size needed fits; one byte less does not, nor less. */
	for (size_t sz = 0; sz <= strlen(head); sz++)
		assert_int_equal(mr_multipart_head(buf, sz, "B1", "text/plain",
		    "inline"), -1);
	assert_int_equal(mr_multipart_head(buf, strlen(head) + 1, "B1",
	    "text/plain", "inline"), (int)strlen(head));
	assert_int_equal(mr_multipart_tail(buf, 10, "B1"), -1);
	assert_int_equal(mr_multipart_tail(buf, 11, "B1"), 10);
	assert_int_equal(mr_multipart_location(buf, strlen(loc), "B1",
	    "https://cdn.example.org/x"), -1);

	/* No forged headers, no invalid boundary. */
	assert_int_equal(mr_multipart_head(buf, sizeof(buf), "B1",
	    "text/plain\r\nX-Evil: 1", "inline"), -1);
	assert_int_equal(mr_multipart_head(buf, sizeof(buf), "B1",
	    "text/plain", "inline\n"), -1);
	assert_int_equal(mr_multipart_location(buf, sizeof(buf), "B1",
	    "https://x/\r\n"), -1);
	assert_int_equal(mr_multipart_tail(buf, sizeof(buf), ""), -1);
	assert_int_equal(mr_multipart_tail(buf, sizeof(buf), "a\r\nb"), -1);
	assert_int_equal(mr_multipart_tail(buf, sizeof(buf), "ends "), -1);
}

/* --- round trips --- */

static void
test_round_trip_small(void **state)
{
	char b[MR_MULTIPART_BOUNDARY_LEN + 1];
	static const unsigned char bin[] = { 0, 1, '\r', '\n', '-', '-', 0xff,
	    '\r', '\r', '\n', '\n', '-', 0, '\r' };

	(void)state;
	mr_multipart_boundary(b);
	round_trip(b, "", 0);
	round_trip(b, "x", 1);
	round_trip(b, "\r", 1);
	round_trip(b, "\n", 1);
	round_trip(b, "-", 1);
	round_trip(b, "\r\n", 2);
	round_trip(b, "\r\n\r\n", 4);
	round_trip(b, "--", 2);
	round_trip(b, bin, sizeof(bin));
}

/* Bodies that look like the delimiter up to the last byte. */
static void
test_round_trip_near_boundary(void **state)
{
	static const char *const shapes[] = {
		"\r\n--%s",	/* then x */
		"\r\n--%.*s",	/* boundary minus its last character */
		"\n--%sx",
		"\r\n--%s-x",
		"\r\n--%s-",
		"--%sx",	/* at the very start of the body */
		"--%s-",
		"-%s\r\n",
		"\r\r\n--%sX\n--%sx\r\n-",
		"x\r\n-\r\n--\n--%s_",
		"\r\n--%.*s\r\n--%.*s\r",
	};
	const char *b = "Bnd0123456789abcdefXYZ";
	int bl = (int)strlen(b);
	char body[512];

	(void)state;
	for (size_t i = 0; i < NELEM(shapes); i++) {
		int n;

		/* Every shape's "%.*s" takes one character less. */
		if (strstr(shapes[i], "%.*s") != NULL)
			n = snprintf(body, sizeof(body), shapes[i], bl - 1, b,
			    bl - 1, b);
		else
			n = snprintf(body, sizeof(body), shapes[i], b, b);
		if (i == 0)
			body[n++] = 'x';
		round_trip(b, body, (size_t)n);
		/* The same text in the middle of a longer body. */
		memmove(body + 3, body, (size_t)n);
		memcpy(body, "abc", 3);
		memcpy(body + n + 3, "def", 3);
		round_trip(b, body, (size_t)n + 6);
	}
}

static void
test_round_trip_1mib(void **state)
{
	static const size_t sizes[] = { 0, 1, 3, 7, 64, 4096, 65537 };
	size_t len = 1 << 20;
	unsigned char *body = malloc(len);
	char b[MR_MULTIPART_BOUNDARY_LEN + 1];

	(void)state;
	assert_non_null(body);
	randombytes_buf(body, len);
	mr_multipart_boundary(b);
	/* Plant near-delimiters all over: CRLF, "--" and most of b. */
	for (size_t off = 100; off + 40 < len; off += 9973) {
		memcpy(body + off, "\r\n--", 4);
		memcpy(body + off + 4, b, (off / 9973) % 32);
	}
	for (size_t i = 0; i < NELEM(sizes); i++)
		round_trip_at(b, body, len, sizes[i]);
	free(body);
}

/* A delimiter split at every position, in two pieces and in three. */
static void
test_split_everywhere(void **state)
{
	char b[MR_MULTIPART_BOUNDARY_LEN + 1];
	static const char body[] = "a\r\n-\r\n--x\r";
	struct rec ref, r;
	struct mr_multipart_handler h = { rec_json, rec_header, rec_start,
	    rec_body, &r };
	struct mr_err err;
	size_t mlen;
	char *m;

	(void)state;
	mr_multipart_boundary(b);
	m = wrap(b, body, sizeof(body) - 1, &mlen);
	rec_init(&ref);
	assert_int_equal(parse(b, m, mlen, 0, &ref, &err, NULL), 0);
	for (size_t i = 0; i <= mlen; i++) {
		for (size_t j = i; j <= mlen; j++) {
			struct mr_multipart_parser *p;

			rec_init(&r);
			assert_int_equal(mr_multipart_parser_new(&p, b, &h,
			    &err), 0);
			assert_int_equal(mr_multipart_parser_feed(p, m, i,
			    &err), 0);
			assert_int_equal(mr_multipart_parser_feed(p, m + i,
			    j - i, &err), 0);
			assert_int_equal(mr_multipart_parser_feed(p, m + j,
			    mlen - j, &err), 0);
			assert_int_equal(mr_multipart_parser_finish(p, &err), 0);
			assert_string_equal(r.log, ref.log);
			assert_int_equal(r.body_len, ref.body_len);
			assert_memory_equal(r.body, ref.body, r.body_len);
			mr_multipart_parser_free(p);
			rec_release(&r);
		}
	}
	rec_release(&ref);
	free(m);
}

/* --- the spec's examples --- */

static const char spec_inline[] =
    "--gc0p4Jq0M2Yt08jU534c0p\n"
    "Content-Type: application/json\n"
    "\n"
    "{}\n"
    "\n"
    "--gc0p4Jq0M2Yt08jU534c0p\n"
    "Content-Type: text/plain\n"
    "\n"
    "This media is plain text. Maybe somebody used it as a paste bin.\n"
    "\n"
    "--gc0p4Jq0M2Yt08jU534c0p\n";

static const char spec_location[] =
    "--gc0p4Jq0M2Yt08jU534c0p\n"
    "Content-Type: application/json\n"
    "\n"
    "{}\n"
    "\n"
    "--gc0p4Jq0M2Yt08jU534c0p\n"
    "Location: https://cdn.example.org/ab/c1/2345.txt\n"
    "\n"
    "--gc0p4Jq0M2Yt08jU534c0p\n";

/* LF to CRLF, into a heap string. */
static char *
crlf(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 1), *o = out;

	assert_non_null(out);
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			*o++ = '\r';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void
check_spec(const char *msg, size_t len, const char *log, const char *body)
{
	struct mr_err err;
	struct rec r;

	for (size_t chunk = 0; chunk <= 20; chunk++) {
		rec_init(&r);
		assert_int_equal(parse(SPEC_B, msg, len, chunk, &r, &err,
		    NULL), 0);
		assert_string_equal(r.log, log);
		assert_int_equal(r.body_len, strlen(body));
		assert_memory_equal(r.body, body, r.body_len);
		rec_release(&r);
	}
}

static void
test_spec_examples(void **state)
{
	static const char text[] =
	    "This media is plain text. Maybe somebody used it as a paste bin.";
	char body[128], boundary[MR_MULTIPART_BOUNDARY_MAX + 1];
	struct mr_err err;
	char *c;

	(void)state;
	assert_int_equal(mr_multipart_parse_content_type(
	    "multipart/mixed; boundary=gc0p4Jq0M2Yt08jU534c0p", boundary,
	    &err), 0);
	assert_string_equal(boundary, SPEC_B);

	/* As printed (LF); the blank line before a delimiter is body. */
	snprintf(body, sizeof(body), "%s\n", text);
	check_spec(spec_inline, strlen(spec_inline),
	    "J[{}\n]H[Content-Type|text/plain]S", body);
	/* Without the final line break too. */
	check_spec(spec_inline, strlen(spec_inline) - 1,
	    "J[{}\n]H[Content-Type|text/plain]S", body);
	check_spec(spec_location, strlen(spec_location),
	    "J[{}\n]H[Location|https://cdn.example.org/ab/c1/2345.txt]S", "");
	check_spec(spec_location, strlen(spec_location) - 1,
	    "J[{}\n]H[Location|https://cdn.example.org/ab/c1/2345.txt]S", "");

	c = crlf(spec_inline);
	snprintf(body, sizeof(body), "%s\r\n", text);
	check_spec(c, strlen(c), "J[{}\r\n]H[Content-Type|text/plain]S", body);
	free(c);
	c = crlf(spec_location);
	check_spec(c, strlen(c),
	    "J[{}\r\n]H[Location|https://cdn.example.org/ab/c1/2345.txt]S",
	    "");
	free(c);
}

static void
test_location_writer(void **state)
{
	char b[MR_MULTIPART_BOUNDARY_LEN + 1], m[512];
	struct mr_err err;
	struct rec r;
	int n;

	(void)state;
	mr_multipart_boundary(b);
	n = mr_multipart_location(m, sizeof(m), b,
	    "https://cdn.example.org/ab/c1/2345.txt");
	assert_true(n > 0);
	for (size_t chunk = 0; chunk <= 20; chunk++) {
		rec_init(&r);
		assert_int_equal(parse(b, m, (size_t)n, chunk, &r, &err, NULL),
		    0);
		assert_string_equal(r.log, "J[{}]H[Location|"
		    "https://cdn.example.org/ab/c1/2345.txt]S");
		assert_int_equal(r.body_len, 0);
		rec_release(&r);
	}
}

/* --- Content-Type --- */

static void
test_content_type(void **state)
{
	static const struct {
		const char *in;
		const char *boundary;	/* NULL: must fail */
	} cases[] = {
		{ "multipart/mixed; boundary=abc", "abc" },
		{ "multipart/mixed;boundary=abc", "abc" },
		{ "  Multipart/MIXED ;  BOUNDARY=abc  ", "abc" },
		{ "multipart/mixed; boundary=\"a b:c?\"", "a b:c?" },
		{ "multipart/mixed; boundary=\"gc0p4Jq0M2Yt08jU534c0p\"",
		    SPEC_B },
		{ "multipart/mixed; boundary=\"a\\\"\"", NULL },	/* '"' */
		{ "multipart/mixed; boundary=\"a\\b\"", "ab" },
		{ "multipart/mixed; charset=utf-8; boundary=x; foo=\"y;z\"",
		    "x" },
		{ "multipart/mixed; boundary=x;", "x" },
		{ "multipart/mixed; boundary='()+_,-./", NULL },
		{ "multipart/mixed; boundary='+_-.", "'+_-." },
		{ "multipart/mixed; boundary=\"'()+_,-./:=? z\"",
		    "'()+_,-./:=? z" },
		/* 70 characters: the RFC 2046 limit */
		{ "multipart/mixed; boundary=0123456789012345678901234567890"
		    "123456789012345678901234567890123456789",
		    "0123456789012345678901234567890123456789012345678901234567"
		    "890123456789" },
		{ "multipart/mixed; boundary=0123456789012345678901234567890"
		    "1234567890123456789012345678901234567890", NULL },
		{ "multipart/mixed; boundary=\"0123456789012345678901234567890"
		    "1234567890123456789012345678901234567890\"", NULL },
		{ "multipart/form-data; boundary=abc", NULL },
		{ "multipart/mixedx; boundary=abc", NULL },
		{ "multipart/mixed/x; boundary=abc", NULL },
		{ "text/plain; boundary=abc", NULL },
		{ "application/json", NULL },
		{ "", NULL },
		{ "multipart/mixed", NULL },
		{ "multipart/mixed; charset=utf-8", NULL },
		{ "multipart/mixed; boundary=", NULL },
		{ "multipart/mixed; boundary=\"\"", NULL },
		{ "multipart/mixed; boundary=\"abc", NULL },
		{ "multipart/mixed; boundary=\"abc\\", NULL },
		{ "multipart/mixed; boundary=\"ends \"", NULL },
		{ "multipart/mixed; boundary=\"a\tb\"", NULL },
		{ "multipart/mixed; boundary=a; boundary=b", NULL },
		{ "multipart/mixed; boundary=a b", NULL },
		{ "multipart/mixed boundary=a", NULL },
		{ "multipart/mixed; boundary", NULL },
		{ "multipart/mixed; =a", NULL },
		{ "multipart/mixed; boundary=\"a\r\nb\"", NULL },
		{ "multipart/mixed; x=\"unterminated; boundary=a", NULL },
	};
	char b[MR_MULTIPART_BOUNDARY_MAX + 1];
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int rc = mr_multipart_parse_content_type(cases[i].in, b, &err);

		if (cases[i].boundary == NULL) {
			if (rc != -1)
				fail_msg("accepted '%s'", cases[i].in);
			assert_int_equal(err.status, 502);
			assert_string_equal(err.errcode, "M_UNKNOWN");
			continue;
		}
		if (rc != 0)
			fail_msg("refused '%s': %s", cases[i].in, err.msg);
		assert_string_equal(b, cases[i].boundary);
	}
}

static void
test_parser_new_invalid(void **state)
{
	static const char *bad[] = { "", "a\r\nb", "a\nb", "ends ", "a\"b",
	    NULL };
	char longb[MR_MULTIPART_BOUNDARY_MAX + 2];
	struct mr_multipart_parser *p;
	struct mr_err err;

	(void)state;
	memset(longb, 'a', sizeof(longb) - 1);
	longb[sizeof(longb) - 1] = '\0';
	bad[NELEM(bad) - 1] = longb;
	assert_int_equal(mr_multipart_parser_new(&p, longb + 1, NULL, &err), 0);
	mr_multipart_parser_free(p);
	for (size_t i = 0; i < NELEM(bad); i++) {
		assert_int_equal(mr_multipart_parser_new(&p, bad[i], NULL, &err),
		    -1);
		assert_null(p);
		assert_int_equal(err.status, 502);
	}
}

/* --- malformed and lenient input --- */

#define OK_PART1 "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n"

static void
test_table(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *log;	/* when ok */
		const char *body;	/* when ok */
	} cases[] = {
		/* accepted */
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b--\r\n", 1,
		    "J[{}]H[A|1]S", "xy" },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b--", 1,
		    "J[{}]H[A|1]S", "xy" },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b", 1,
		    "J[{}]H[A|1]S", "xy" },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b \t", 1,
		    "J[{}]H[A|1]S", "xy" },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b\r", 1,
		    "J[{}]H[A|1]S", "xy" },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b\n", 1,
		    "J[{}]H[A|1]S", "xy" },
		/* epilogue, even garbage, is ignored */
		{ OK_PART1 "--b\r\n\r\nxy\r\n--b--\r\ngarbage\r\n--b\r\n", 1,
		    "J[{}]S", "xy" },
		{ OK_PART1 "--b\r\n\r\nxy\r\n--b--garbage", 1, "J[{}]S", "xy" },
		/* preamble, padding, mixed line ends, empty headers */
		{ "preamble --b\r\nx--b\n\n--b  \r\n\r\n{}\n--b\t\n"
		    "Name :  v a l  \n\r\nbody\n--b--", 1,
		    "J[{}]H[Name|v a l]S", "body" },
		{ "--b\n\n\n--b\n\n\n--b--", 1, "J[]S", "" },
		{ "--b\n\n--b\n\n--b--", 1, "J[]S", "" },
		{ "--b\n\n--b\n\n\r\n\r\n--b--", 1, "J[]S", "\r\n" },
		{ OK_PART1 "--b\r\nX:\r\nY:\t\r\n\r\n--b-x\r\n--b--", 1,
		    "J[{}]H[X|]H[Y|]S", "--b-x" },
		{ OK_PART1 "--b\r\n\r\n\xff\x80\r\n--bb\r\n--b--", 1,
		    "J[{}]S", "\xff\x80\r\n--bb" },
		{ OK_PART1 "--b\r\nX: \xc3\xa9\r\n\r\n\r\n--b--", 1,
		    "J[{}]H[X|\xc3\xa9]S", "" },
		/* refused */
		{ "", 0, NULL, NULL },
		{ "no delimiter at all\r\n", 0, NULL, NULL },
		{ "--bx\r\n\r\n{}\r\n", 0, NULL, NULL },
		{ "--b--\r\n", 0, NULL, NULL },
		{ OK_PART1 "--b--\r\n", 0, NULL, NULL },
		{ OK_PART1, 0, NULL, NULL },
		{ OK_PART1 "--b", 0, NULL, NULL },
		{ OK_PART1 "--b\r\n", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\r\n", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\r\n\r\nxy\r\n--b-", 0, NULL, NULL },
		{ OK_PART1 "--b\r\n\r\nxy\r\n--b\r\n\r\nthird\r\n--b--", 0,
		    NULL, NULL },
		{ OK_PART1 "--b\r\n\r\nxy\r\n--b\r\n\r\n", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nno colon\r\n\r\nxy\r\n--b--", 0, NULL,
		    NULL },
		{ OK_PART1 "--b\r\nA: 1\r\n folded\r\n\r\nxy\r\n--b--", 0,
		    NULL, NULL },
		{ OK_PART1 "--b\r\n: v\r\n\r\nxy\r\n--b--", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA(b): v\r\n\r\nxy\r\n--b--", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\r2\r\n\r\nxy\r\n--b--", 0, NULL, NULL },
		{ OK_PART1 "--b\r\nA: 1\x01\r\n\r\nxy\r\n--b--", 0, NULL,
		    NULL },
		{ "--b\r\nno colon in part 1\r\n\r\n{}\r\n--b\r\n\r\n\r\n--b--",
		    0, NULL, NULL },
		{ OK_PART1 "--b x\r\n\r\nxy\r\n--b--", 0, NULL, NULL },
		{ OK_PART1 "--b\rx\r\n\r\nxy\r\n--b--", 0, NULL, NULL },
	};
	struct mr_err err;
	struct rec r;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t len = strlen(cases[i].in);

		for (size_t chunk = 0; chunk <= 5; chunk++) {
			int rc;

			rec_init(&r);
			memset(&err, 0, sizeof(err));
			rc = parse("b", cases[i].in, len, chunk, &r, &err, NULL);
			if (cases[i].ok && rc != 0)
				fail_msg("case %zu refused: %s", i, err.msg);
			if (!cases[i].ok && rc == 0)
				fail_msg("case %zu accepted", i);
			if (cases[i].ok) {
				assert_string_equal(r.log, cases[i].log);
				assert_int_equal(r.body_len,
				    strlen(cases[i].body));
				assert_memory_equal(r.body, cases[i].body,
				    r.body_len);
			} else {
				assert_int_equal(err.status, 502);
				assert_string_equal(err.errcode, "M_UNKNOWN");
				assert_non_null(strstr(err.msg,
				    "malformed multipart"));
			}
			rec_release(&r);
		}
	}
}

/* The errors name the actual fault. */
static void
test_error_messages(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
		{ OK_PART1 "--b\r\nA: 1\r\n B: 2\r\n\r\n--b--", "folded" },
		{ OK_PART1 "--b\r\nA 1\r\n\r\n--b--", "without colon" },
		{ OK_PART1 "--b\r\n\r\n--b\r\n\r\n--b--", "more than two" },
		{ OK_PART1 "--b--", "only one part" },
		{ "--b--", "no parts" },
		{ "--b\r\n\r\n{}", "before the second part" },
		{ OK_PART1 "--b\r\n\r\nxyz", "inside the second part" },
	};
	char b[MR_MULTIPART_BOUNDARY_MAX + 1];
	struct mr_err err;
	struct rec r;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		rec_init(&r);
		assert_int_equal(parse("b", cases[i].in, strlen(cases[i].in), 0,
		    &r, &err, NULL), -1);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s'", i, err.msg);
		rec_release(&r);
	}
	assert_int_equal(mr_multipart_parse_content_type(
	    "multipart/mixedx; boundary=a", b, &err), -1);
	assert_non_null(strstr(err.msg, "not multipart/mixed"));
}

/* Header block and metadata limits, at the limit and one past. */
static void
test_limits(void **state)
{
	size_t cap = MR_MULTIPART_JSON_MAX + 1024;
	char *m = malloc(cap);
	struct mr_err err;
	struct rec r;
	size_t n;
	int at_finish;

	(void)state;
	assert_non_null(m);
	/* Header block: 8192 bytes including the final blank line. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t hl = MR_MULTIPART_HEADER_MAX - 4 + (size_t)extra;

		n = (size_t)snprintf(m, cap, "%s--b\r\n", OK_PART1);
		memcpy(m + n, "X: ", 3);
		memset(m + n + 3, 'v', hl - 3);
		n += hl;
		n += (size_t)snprintf(m + n, cap - n, "\r\n\r\nz\r\n--b--");
		rec_init(&r);
		assert_int_equal(parse("b", m, n, 0, &r, &err, &at_finish),
		    extra ? -1 : 0);
		if (extra)
			assert_int_equal(at_finish, 0);
		rec_release(&r);
	}
	/* Metadata: 64 KiB body fits, one byte more does not. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t jl = MR_MULTIPART_JSON_MAX + (size_t)extra;

		n = (size_t)snprintf(m, cap, "--b\r\n\r\n");
		memset(m + n, ' ', jl);
		m[n] = '{';
		m[n + jl - 1] = '}';
		n += jl;
		n += (size_t)snprintf(m + n, cap - n, "\r\n--b\r\n\r\nz\r\n--b--");
		for (size_t chunk = 0; chunk <= 7; chunk += 7) {
			rec_init(&r);
			assert_int_equal(parse("b", m, n, chunk, &r, &err,
			    &at_finish), extra ? -1 : 0);
			if (extra) {
				assert_int_equal(at_finish, 0);
				assert_non_null(strstr(err.msg, "metadata"));
			} else {
				assert_int_equal(r.json_len, jl);
				assert_int_equal(r.body_len, 1);
			}
			rec_release(&r);
		}
	}
	free(m);
}

/* A failing callback's err is what the caller sees; the parser stays dead. */
static void
test_callback_failure(void **state)
{
	static const char msg[] = OK_PART1
	    "--b\r\nA: 1\r\n\r\nxy\r\n--b--\r\n";
	static const int which[] = { 'J', 'H', 'S', 'B' };
	struct mr_multipart_handler h = { rec_json, rec_header, rec_start,
	    rec_body, NULL };
	struct mr_multipart_parser *p;
	struct mr_err err;
	struct rec r;

	(void)state;
	for (size_t i = 0; i < NELEM(which); i++) {
		rec_init(&r);
		r.fail_at = which[i];
		h.arg = &r;
		assert_int_equal(mr_multipart_parser_new(&p, "b", &h, &err), 0);
		assert_int_equal(mr_multipart_parser_feed(p, msg,
		    sizeof(msg) - 1, &err), -1);
		assert_int_equal(err.status, 418);
		assert_string_equal(err.errcode, "M_TEST");
		assert_int_equal(mr_multipart_parser_feed(p, "x", 1, &err), -1);
		assert_int_equal(err.status, 502);
		assert_int_equal(mr_multipart_parser_finish(p, &err), -1);
		mr_multipart_parser_free(p);
		rec_release(&r);
	}
	/* No callbacks at all is allowed. */
	assert_int_equal(mr_multipart_parser_new(&p, "b", NULL, &err), 0);
	assert_int_equal(mr_multipart_parser_feed(p, msg, sizeof(msg) - 1,
	    &err), 0);
	assert_int_equal(mr_multipart_parser_finish(p, &err), 0);
	mr_multipart_parser_free(p);
}

/* Every chunk size from 1 to 20 gives the same callbacks, byte for byte. */
static void
test_chunkings(void **state)
{
	static const char msg[] =
	    "preamble\r\n--" SPEC_B "\r\nContent-Type: application/json\r\n"
	    "\r\n{\"k\":\"\r\n--\"}\r\n--" SPEC_B "  \r\n"
	    "Content-Type: text/plain\r\nContent-Disposition: inline\r\n\r\n"
	    "\r\n--" SPEC_B "x\n--gc0p\r\r\n--\r\n--" SPEC_B "-\r\n"
	    "\r\n--" SPEC_B "--\r\nepilogue\r\n--" SPEC_B "\r\n";
	struct mr_err err;
	struct rec ref, r;

	(void)state;
	rec_init(&ref);
	assert_int_equal(parse(SPEC_B, msg, sizeof(msg) - 1, 0, &ref, &err,
	    NULL), 0);
	assert_string_equal(ref.log, "J[{\"k\":\"\r\n--\"}]"
	    "H[Content-Type|text/plain]H[Content-Disposition|inline]S");
	assert_int_equal(ref.body_len, strlen("\r\n--" SPEC_B "x\n--gc0p\r\r\n"
	    "--\r\n--" SPEC_B "-\r\n"));
	for (size_t chunk = 1; chunk <= 20; chunk++) {
		rec_init(&r);
		assert_int_equal(parse(SPEC_B, msg, sizeof(msg) - 1, chunk, &r,
		    &err, NULL), 0);
		assert_string_equal(r.log, ref.log);
		assert_int_equal(r.body_len, ref.body_len);
		assert_memory_equal(r.body, ref.body, r.body_len);
		rec_release(&r);
	}
	rec_release(&ref);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_writer_text),
		cmocka_unit_test(test_round_trip_small),
		cmocka_unit_test(test_round_trip_near_boundary),
		cmocka_unit_test(test_round_trip_1mib),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_spec_examples),
		cmocka_unit_test(test_location_writer),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_parser_new_invalid),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_callback_failure),
		cmocka_unit_test(test_chunkings),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
