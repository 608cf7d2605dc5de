/*
 * fuzz_multipart: libFuzzer target for the multipart/mixed parser, which
 * reads a remote server's response. The first byte picks a chunk size and
 * a boundary; the rest is fed in chunks of that size. Besides memory
 * errors it checks the contract: the chunking never changes the outcome
 * or the callbacks, the metadata stays within its bound, and the writer's
 * output around the same bytes parses back to exactly those bytes.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz_multipart \
 *     tests/fuzz/fuzz_multipart.c common/multipart.c common/util.c -lsodium
 * ./fuzz_multipart tests/fuzz/corpus/multipart
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Short ones so the fuzzer finds them; "-" makes the text all dashes. */
static const char *const boundaries[] = { "gc0p4Jq0M2Yt08jU534c0p", "b",
    "-", "a b" };

/* A running digest of the callbacks: FNV-1a over tagged events. */
struct trace {
	uint64_t h;		/* events other than body bytes */
	uint64_t bh;		/* body bytes */
	size_t body_len;
	int started;
};

static uint64_t
fnv(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *b = buf;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static void
trace_add(struct trace *t, int tag, const void *buf, size_t len)
{
	t->h = (t->h ^ (unsigned char)tag) * 1099511628211ULL;
	t->h = fnv(t->h, buf, len);
}

static int
on_json(void *arg, const char *json, size_t len, struct mr_err *err)
{
	(void)err;
	if (len > MR_MULTIPART_JSON_MAX || json[len] != '\0')
		abort();
	trace_add(arg, 'J', json, len);
	return 0;
}

static int
on_header(void *arg, const char *name, const char *value,
    struct mr_err *err)
{
	struct trace *t = arg;

	(void)err;
	if (t->started || name[0] == '\0')
		abort();
	trace_add(t, 'N', name, strlen(name));
	trace_add(t, 'V', value, strlen(value));
	return 0;
}

static int
on_body_start(void *arg, struct mr_err *err)
{
	struct trace *t = arg;

	(void)err;
	if (t->started)
		abort();
	t->started = 1;
	trace_add(t, 'S', NULL, 0);
	return 0;
}

static int
on_body(void *arg, const void *buf, size_t len, struct mr_err *err)
{
	struct trace *t = arg;

	(void)err;
	if (!t->started || len == 0)
		abort();
	/* Body bytes hash alike whatever the chunking: no tag per call. */
	t->bh = fnv(t->bh, buf, len);
	t->body_len += len;
	return 0;
}

static int
run(const char *b, const uint8_t *data, size_t size, size_t chunk,
    struct trace *t)
{
	struct mr_multipart_handler h = { on_json, on_header, on_body_start,
	    on_body, t };
	struct mr_multipart_parser *p;
	struct mr_err err;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	t->bh = 14695981039346656037ULL;
	if (mr_multipart_parser_new(&p, b, &h, &err) < 0)
		abort();
	for (size_t off = 0; off < size && rc == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		rc = mr_multipart_parser_feed(p, data + off, n, &err);
	}
	if (rc == 0)
		rc = mr_multipart_parser_finish(p, &err);
	if (rc < 0 && (err.status != 502 || strncmp(err.msg,
	    "malformed multipart", 19) != 0))
		abort();
	if (t->body_len > size)
		abort();
	mr_multipart_parser_free(p);
	return rc;
}

/* The same bytes as a media body between the writer's head and tail. */
static void
round_trip(const uint8_t *data, size_t size, size_t chunk)
{
	static const char b[] = "fuzzBoundary0123456789abcdefABCD";
	char head[256], tail[64], delim[sizeof(b) + 2] = "--";
	struct trace t;
	uint8_t *m;
	int hn, tn;

	memcpy(delim + 2, b, sizeof(b));
	/* The one input that may break it: the boundary inside the body. */
	if (memmem(data, size, delim, strlen(delim)) != NULL)
		return;
	hn = mr_multipart_head(head, sizeof(head), b, "a/b", "inline");
	tn = mr_multipart_tail(tail, sizeof(tail), b);
	if (hn < 0 || tn < 0 || (m = malloc((size_t)hn + size + (size_t)tn))
	    == NULL)
		abort();
	memcpy(m, head, (size_t)hn);
	if (size > 0)
		memcpy(m + hn, data, size);
	memcpy(m + hn + size, tail, (size_t)tn);
	if (run(b, m, (size_t)hn + size + (size_t)tn, chunk, &t) != 0 ||
	    t.body_len != size || t.bh != fnv(14695981039346656037ULL, data,
	    size))
		abort();
	free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace whole, chunked;
	const char *b;
	size_t chunk;
	int rc1, rc2;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x1f) + 1;
	b = boundaries[data[0] >> 6];
	data++;
	size--;
	rc1 = run(b, data, size, size > 0 ? size : 1, &whole);
	rc2 = run(b, data, size, chunk, &chunked);
	if (rc1 != rc2 || (rc1 == 0 && (whole.h != chunked.h ||
	    whole.bh != chunked.bh || whole.body_len != chunked.body_len)))
		abort();
	round_trip(data, size, chunk);
	return 0;
}
