/*
 * fuzz_xmatrix: libFuzzer target for mr_auth_parse_xmatrix, which reads the
 * Authorization header of every federation request. Besides memory errors
 * it checks the contract: a failure is a 400 or 401 M_UNAUTHORIZED with the
 * result zeroed; a success holds checked fields that format back into a
 * header parsing to the same fields.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -I/usr/include/cjson \
 *     -o fuzz_xmatrix tests/fuzz/fuzz_xmatrix.c common/auth_xmatrix.c \
 *     common/keys.c common/json.c common/mxc.c common/util.c \
 *     -lsodium -lcrypto -lcjson
 * ./fuzz_xmatrix tests/fuzz/corpus/xmatrix
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/auth_xmatrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_failure(const struct mr_xmatrix *x, const struct mr_err *err)
{
	static const struct mr_xmatrix zero;

	if ((err->status != 400 && err->status != 401) ||
	    err->errcode == NULL || strcmp(err->errcode, "M_UNAUTHORIZED") != 0 ||
	    memcmp(x, &zero, sizeof(zero)) != 0)
		abort();
}

static void
check_success(const struct mr_xmatrix *x)
{
	struct mr_xmatrix back;
	struct mr_err err;
	char header[MR_XMATRIX_HEADER_MAX];

	if (!mr_mxc_valid_server_name(x->origin) ||
	    !mr_keys_valid_key_id(x->key) || x->sig[0] == '\0' ||
	    (x->destination[0] != '\0' &&
	    !mr_mxc_valid_server_name(x->destination)))
		abort();
	if (mr_auth_format_xmatrix(x, header, sizeof(header)) != 0 ||
	    mr_auth_parse_xmatrix(header, &back, &err) != 0 ||
	    memcmp(x, &back, sizeof(back)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_xmatrix x;
	struct mr_err err;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mr_auth_parse_xmatrix(s, &x, &err) == 0)
		check_success(&x);
	else
		check_failure(&x, &err);
	free(s);
	return 0;
}
