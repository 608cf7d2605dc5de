/*
 * fuzz_admin: libFuzzer target for the admin API's parsers
 * (common/admin_api.c), which read the path and query of every request
 * to admin.fcgi. The input is "METHOD PATH?QUERY": the path goes to
 * mr_admin_parse_path, the query (split at '&' and '=') to
 * mr_admin_parse_params for the call found, or for each call when the
 * path is no call. Besides memory errors it checks the contract: a
 * refusal has a 4xx status and an errcode; an accepted media call carries
 * a valid server name and media id, a user call a valid user id, a room
 * call a '!' room id; accepted parameters are non-negative, until_ts is
 * after from_ts, and before_ts is in milliseconds.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -o fuzz_admin tests/fuzz/fuzz_admin.c common/admin_api.c \
 *     common/mxc.c common/util.c -lsodium
 * ./fuzz_admin tests/fuzz/corpus/admin
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/admin_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX 4096

static void
check_err(const struct mr_err *err)
{
	if (err->status < 400 || err->status > 499 || err->errcode == NULL)
		abort();
}

static void
check_call(const struct mr_admin_call *c)
{
	switch (c->op) {
	case MR_ADMIN_MEDIA_INFO:
	case MR_ADMIN_MEDIA_DELETE:
	case MR_ADMIN_QUARANTINE:
	case MR_ADMIN_UNQUARANTINE:
	case MR_ADMIN_PROTECT:
	case MR_ADMIN_UNPROTECT:
		if (!mr_mxc_valid_server_name(c->mxc.server) ||
		    !mr_mxc_valid_media_id(c->mxc.id))
			abort();
		break;
	case MR_ADMIN_USER_QUARANTINE:
	case MR_ADMIN_USER_MEDIA_LIST:
	case MR_ADMIN_USER_MEDIA_DELETE:
		if (!mr_mxc_valid_user_id(c->user_id))
			abort();
		break;
	case MR_ADMIN_ROOM_QUARANTINE:
		if (c->room_id[0] != '!' || strchr(c->room_id, '/') != NULL)
			abort();
		break;
	default:
		break;
	}
}

static void
check_params(enum mr_admin_op op, const struct mr_admin_params *p)
{
	if (p->from < 0 || p->limit < 0 || p->size_gt < 0 || p->from_ts < 0 ||
	    p->until_ts < 0)
		abort();
	if (p->until_ts != 0 && p->until_ts <= p->from_ts)
		abort();
	if ((op == MR_ADMIN_DELETE_OLD || op == MR_ADMIN_PURGE_CACHE) &&
	    p->before_ts < INT64_C(30000000000))
		abort();
	if ((unsigned)p->order >= MR_STORE_ORDER__MAX)
		abort();
}

/* Splits q in place into at most 64 name/value pairs. */
static unsigned
split_query(char *q, const char **names, const char **values)
{
	unsigned n = 0;

	while (q != NULL && n < 64) {
		char *amp = strchr(q, '&'), *eq;

		if (amp != NULL)
			*amp++ = '\0';
		eq = strchr(q, '=');
		if (eq != NULL)
			*eq++ = '\0';
		names[n] = q;
		values[n++] = eq != NULL ? eq : "";
		q = amp;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[FUZZ_MAX + 1], *space, *query;
	const char *names[64], *values[64];
	struct mr_admin_params p;
	struct mr_admin_call c;
	struct mr_err err;
	unsigned n;

	if (size > FUZZ_MAX)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((space = strchr(buf, ' ')) == NULL)
		return 0;
	*space++ = '\0';
	if ((query = strchr(space, '?')) != NULL)
		*query++ = '\0';
	n = split_query(query, names, values);
	if (mr_admin_parse_path(space, strlen(space), buf, "example.org", &c,
	    &err) == 0) {
		check_call(&c);
		if (mr_admin_parse_params(c.op, names, values, n, &p, &err) == 0)
			check_params(c.op, &p);
		else
			check_err(&err);
		return 0;
	}
	check_err(&err);
	for (int op = 0; op < MR_ADMIN__OPS; op++) {
		if (mr_admin_parse_params((enum mr_admin_op)op, names, values, n,
		    &p, &err) == 0)
			check_params((enum mr_admin_op)op, &p);
		else
			check_err(&err);
	}
	return 0;
}
