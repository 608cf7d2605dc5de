/*
 * fuzz_canonical: libFuzzer target for mr_json_canonical, the bytes every
 * signature covers, and mr_json_parse_strict. Besides memory errors it
 * checks that canonical JSON is a fixed point (parsed and encoded again it
 * is the same bytes, and the strict parser takes it) and that whatever the
 * strict parser accepts encodes exactly as cJSON's own parse of it does.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -I/usr/include/cjson \
 *     -o fuzz_canonical tests/fuzz/fuzz_canonical.c common/json.c \
 *     common/util.c -lcjson -lsodium
 * ./fuzz_canonical CORPUS_DIR
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes v; on failure the error must be one the contract allows. */
static char *
canon(const cJSON *v, size_t *len)
{
	struct mr_err err;
	char *out;

	if (mr_json_canonical(v, &out, len, &err) == 0) {
		if (out == NULL || strlen(out) != *len)
			abort();
		return out;
	}
	if (out != NULL || (err.status != 400 && err.status != 500))
		abort();
	return NULL;
}

static void
check_fixed_point(const char *out, size_t len)
{
	struct mr_err err;
	cJSON *again = cJSON_ParseWithLength(out, len);
	cJSON *strict = mr_json_parse_strict(out, len, MR_JSON_DEPTH_MAX, &err);
	char *out2, *out3;
	size_t len2, len3;

	if (again == NULL || strict == NULL)
		abort();
	out2 = canon(again, &len2);
	out3 = canon(strict, &len3);
	if (out2 == NULL || len2 != len || memcmp(out, out2, len) != 0 ||
	    out3 == NULL || len3 != len || memcmp(out, out3, len) != 0)
		abort();
	free(out2);
	free(out3);
	cJSON_Delete(again);
	cJSON_Delete(strict);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct mr_err err;
	cJSON *v = cJSON_ParseWithLength(buf, size), *strict;
	char *out = NULL, *sout;
	size_t len = 0, slen;

	if (v != NULL && (out = canon(v, &len)) != NULL)
		check_fixed_point(out, len);
	strict = mr_json_parse_strict(buf, size, 64, &err);
	if (strict == NULL) {
		if (err.status != 400)
			abort();
	} else {
		/* Strict is a subset of cJSON: the same tree, the same bytes. */
		sout = canon(strict, &slen);
		if (v == NULL || (sout == NULL) != (out == NULL) ||
		    (sout != NULL && (slen != len || memcmp(sout, out, len) != 0)))
			abort();
		free(sout);
		cJSON_Delete(strict);
	}
	free(out);
	cJSON_Delete(v);
	return 0;
}
