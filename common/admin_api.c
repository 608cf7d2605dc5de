/*
 * admin_api: paths and query parameters of Synapse's media admin API
 * (see admin_api.h).
 */
#include "admin_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No call has more segments; a longer path is no call. */
#define ADMIN_MAX_SEGS 5
/* A decoded segment: a user or room id, a server name, a media id. */
#define ADMIN_SEG_MAX 512

struct admin_segs {
	char v[ADMIN_MAX_SEGS][ADMIN_SEG_MAX];
	unsigned n;
};

static int
admin_unrecognized(struct mr_err *err)
{
	return mr_err_set(err, 404, "M_UNRECOGNIZED", "Unrecognized request");
}

/* Splits and percent-decodes path; -1 (404) when it is no call's shape. */
static int
admin_split(const char *path, size_t len, struct admin_segs *s,
    struct mr_err *err)
{
	const char *end = path + len;

	s->n = 0;
	while (path < end) {
		const char *slash = memchr(path, '/', (size_t)(end - path));
		size_t seglen = (size_t)((slash ? slash : end) - path);

		if (s->n == ADMIN_MAX_SEGS || seglen >= ADMIN_SEG_MAX)
			return admin_unrecognized(err);
		/* Control characters (%00 above all) are refused here. */
		if (mr_pct_decode(path, seglen, s->v[s->n], 0) < 0)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "malformed percent-encoding in path");
		s->n++;
		if (slash == NULL)
			break;
		path = slash + 1;
		/* "media/" with nothing after is no call either. */
		if (path == end)
			return admin_unrecognized(err);
	}
	return 0;
}

static int
admin_is(const struct admin_segs *s, unsigned i, const char *word)
{
	return i < s->n && strcmp(s->v[i], word) == 0;
}

static int
admin_method(const char *method, const char *want, struct mr_err *err)
{
	if (strcmp(method, want) == 0)
		return 0;
	return mr_err_set(err, 405, "M_UNRECOGNIZED",
	    "method not allowed on this endpoint");
}

static int
admin_mxc(const char *server, const char *id, struct mr_admin_call *out,
    struct mr_err *err)
{
	if (mr_mxc_from_parts(server, id, &out->mxc, err) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid server name or media id");
	return 0;
}

static int
admin_user(const char *id, struct mr_admin_call *out, struct mr_err *err)
{
	if (!mr_mxc_valid_user_id(id))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "invalid user id");
	snprintf(out->user_id, sizeof(out->user_id), "%s", id);
	return 0;
}

/* Local users only (listing and deleting their media), as Synapse. */
static int
admin_local_user(const char *id, const char *local_server,
    struct mr_admin_call *out, struct mr_err *err)
{
	if (admin_user(id, out, err) < 0)
		return -1;
	if (strcmp(strchr(out->user_id, ':') + 1, local_server) != 0)
		return mr_err_set(err, 400, "M_UNKNOWN",
		    "Can only look up local users");
	return 0;
}

/*
 * A room id: '!' and printable ASCII. Since room version 12 an id need not
 * name a server, so no ':' is required.
 */
static int
admin_room(const char *id, struct mr_admin_call *out, struct mr_err *err)
{
	size_t n = strlen(id);

	if (id[0] != '!' || n < 2 || n > MR_ROOM_ID_MAX)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "invalid room id");
	for (size_t i = 1; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7E || id[i] == '/')
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "invalid room id");
	snprintf(out->room_id, sizeof(out->room_id), "%s", id);
	return 0;
}

/* media/... : the calls on one media item, and the deletes by date. */
static int
admin_parse_media(const struct admin_segs *s, const char *method,
    const char *local_server, struct mr_admin_call *out, struct mr_err *err)
{
	int post = strcmp(method, "POST") == 0;

	if (s->n == 2 && admin_is(s, 1, "delete")) {
		out->op = MR_ADMIN_DELETE_OLD;
		return admin_method(method, "POST", err);
	}
	if (s->n == 3 && post && (admin_is(s, 1, "protect") ||
	    admin_is(s, 1, "unprotect"))) {
		out->op = admin_is(s, 1, "protect") ? MR_ADMIN_PROTECT :
		    MR_ADMIN_UNPROTECT;
		return admin_mxc(local_server, s->v[2], out, err);
	}
	if (s->n == 3 && post && admin_is(s, 2, "delete")) {
		/* The deprecated form names the server: ours only. */
		out->op = MR_ADMIN_DELETE_OLD;
		if (strcmp(s->v[1], local_server) != 0)
			return mr_err_set(err, 400, "M_UNKNOWN",
			    "Can only delete local media");
		return 0;
	}
	if (s->n == 3) {
		if (strcmp(method, "GET") == 0)
			out->op = MR_ADMIN_MEDIA_INFO;
		else if (strcmp(method, "DELETE") == 0)
			out->op = MR_ADMIN_MEDIA_DELETE;
		else
			return admin_method(method, "GET", err);
		if (admin_mxc(s->v[1], s->v[2], out, err) < 0)
			return -1;
		if (out->op == MR_ADMIN_MEDIA_DELETE &&
		    strcmp(out->mxc.server, local_server) != 0)
			return mr_err_set(err, 400, "M_UNKNOWN",
			    "Can only delete local media");
		return 0;
	}
	if (s->n == 4 && (admin_is(s, 1, "quarantine") ||
	    admin_is(s, 1, "unquarantine"))) {
		out->op = admin_is(s, 1, "quarantine") ? MR_ADMIN_QUARANTINE :
		    MR_ADMIN_UNQUARANTINE;
		if (admin_method(method, "POST", err) < 0)
			return -1;
		return admin_mxc(s->v[2], s->v[3], out, err);
	}
	if (s->n == 4 && admin_is(s, 3, "quarantine")) {
		/* Mjolnir's spelling of the same call. */
		out->op = MR_ADMIN_QUARANTINE;
		if (admin_method(method, "POST", err) < 0)
			return -1;
		return admin_mxc(s->v[1], s->v[2], out, err);
	}
	return admin_unrecognized(err);
}

int
mr_admin_parse_path(const char *path, size_t len, const char *method,
    const char *local_server, struct mr_admin_call *out, struct mr_err *err)
{
	struct admin_segs *s;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* 2.5 KiB of segments: off the stack of a small thread. */
	if ((s = malloc(sizeof(*s))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (admin_split(path, len, s, err) < 0)
		goto done;
	if (admin_is(s, 0, "media")) {
		rc = admin_parse_media(s, method, local_server, out, err);
	} else if (s->n == 4 && admin_is(s, 0, "user") &&
	    admin_is(s, 2, "media") && admin_is(s, 3, "quarantine")) {
		out->op = MR_ADMIN_USER_QUARANTINE;
		rc = admin_method(method, "POST", err) < 0 ? -1 :
		    admin_user(s->v[1], out, err);
	} else if (s->n == 3 && admin_is(s, 0, "users") &&
	    admin_is(s, 2, "media")) {
		if (strcmp(method, "GET") == 0)
			out->op = MR_ADMIN_USER_MEDIA_LIST;
		else if (strcmp(method, "DELETE") == 0)
			out->op = MR_ADMIN_USER_MEDIA_DELETE;
		else
			goto wrong_method;
		rc = admin_local_user(s->v[1], local_server, out, err);
	} else if ((s->n == 4 && admin_is(s, 0, "room") &&
	    admin_is(s, 2, "media") && admin_is(s, 3, "quarantine")) ||
	    (s->n == 2 && admin_is(s, 0, "quarantine_media"))) {
		out->op = MR_ADMIN_ROOM_QUARANTINE;
		rc = admin_method(method, "POST", err) < 0 ? -1 :
		    admin_room(s->v[1], out, err);
	} else if (s->n == 1 && admin_is(s, 0, "purge_media_cache")) {
		out->op = MR_ADMIN_PURGE_CACHE;
		rc = admin_method(method, "POST", err);
	} else if (s->n == 3 && admin_is(s, 0, "statistics") &&
	    admin_is(s, 1, "users") && admin_is(s, 2, "media")) {
		out->op = MR_ADMIN_USER_STATS;
		rc = admin_method(method, "GET", err);
	} else {
		rc = admin_unrecognized(err);
	}
	goto done;
wrong_method:
	rc = admin_method(method, "GET", err);
done:
	free(s);
	return rc;
}

/* --- query parameters --- */

/* Synapse's media orders, in the order of enum mr_store_media_order. */
static const char *const admin_media_orders[MR_STORE_ORDER__MAX] = {
	[MR_STORE_ORDER_CREATED_TS] = "created_ts",
	[MR_STORE_ORDER_MEDIA_ID] = "media_id",
	[MR_STORE_ORDER_UPLOAD_NAME] = "upload_name",
	[MR_STORE_ORDER_LAST_ACCESS_TS] = "last_access_ts",
	[MR_STORE_ORDER_MEDIA_LENGTH] = "media_length",
	[MR_STORE_ORDER_MEDIA_TYPE] = "media_type",
	[MR_STORE_ORDER_QUARANTINED_BY] = "quarantined_by",
	[MR_STORE_ORDER_SAFE_FROM_QUARANTINE] = "safe_from_quarantine",
};

/*
 * Who has no display name here: ordering by it is ordering by user id,
 * the order that breaks every tie anyway.
 */
static const struct {
	const char *name;
	enum mr_store_usage_order order;
} admin_usage_orders[] = {
	{ "user_id", MR_STORE_USAGE_USER_ID },
	{ "displayname", MR_STORE_USAGE_USER_ID },
	{ "media_length", MR_STORE_USAGE_MEDIA_LENGTH },
	{ "media_count", MR_STORE_USAGE_MEDIA_COUNT },
};

/* Dec 1970 in ms, Aug 2920 in s: a smaller before_ts is in seconds. */
#define ADMIN_TS_MIN INT64_C(30000000000)

static const char *
admin_param(const char *const *names, const char *const *values, unsigned n,
    const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

/* A non-negative integer parameter, or 400 M_INVALID_PARAM. */
static int
admin_uint(const char *name, const char *raw, int64_t *out,
    struct mr_err *err)
{
	if (mr_parse_int64(raw, 0, INT64_C(1) << 53, out) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "Query parameter %s must be a string representing a "
		    "positive integer.", name);
	return 0;
}

/* from, limit and dir, which every list takes. */
static int
admin_paging(const char *const *names, const char *const *values, unsigned n,
    struct mr_admin_params *out, struct mr_err *err)
{
	const char *v;

	if ((v = admin_param(names, values, n, "from")) != NULL &&
	    admin_uint("from", v, &out->from, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "limit")) != NULL &&
	    admin_uint("limit", v, &out->limit, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "dir")) != NULL) {
		if (strcmp(v, "f") != 0 && strcmp(v, "b") != 0)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "Query parameter dir must be one of f, b");
		out->descending = v[0] == 'b';
	}
	return 0;
}

static int
admin_media_order(const char *v, struct mr_admin_params *out,
    struct mr_err *err)
{
	for (int i = 0; i < MR_STORE_ORDER__MAX; i++)
		if (strcmp(v, admin_media_orders[i]) == 0) {
			out->order = (enum mr_store_media_order)i;
			return 0;
		}
	return mr_err_set(err, 400, "M_INVALID_PARAM",
	    "Query parameter order_by must be one of media_id, upload_name, "
	    "created_ts, last_access_ts, media_length, media_type, "
	    "quarantined_by, safe_from_quarantine");
}

static int
admin_usage_order(const char *v, struct mr_admin_params *out,
    struct mr_err *err)
{
	for (size_t i = 0; i < sizeof(admin_usage_orders) /
	    sizeof(admin_usage_orders[0]); i++)
		if (strcmp(v, admin_usage_orders[i].name) == 0) {
			out->usage_order = admin_usage_orders[i].order;
			return 0;
		}
	return mr_err_set(err, 400, "M_INVALID_PARAM",
	    "Query parameter order_by must be one of user_id, displayname, "
	    "media_length, media_count");
}

static int
admin_user_media_params(const char *const *names, const char *const *values,
    unsigned n, struct mr_admin_params *out, struct mr_err *err)
{
	const char *order = admin_param(names, values, n, "order_by");

	/* With neither order_by nor dir: newest first (Synapse's default). */
	if (order == NULL && admin_param(names, values, n, "dir") == NULL)
		out->descending = 1;
	if (admin_paging(names, values, n, out, err) < 0)
		return -1;
	return order != NULL ? admin_media_order(order, out, err) : 0;
}

static int
admin_stats_params(const char *const *names, const char *const *values,
    unsigned n, struct mr_admin_params *out, struct mr_err *err)
{
	const char *v;

	if (admin_paging(names, values, n, out, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "order_by")) != NULL &&
	    admin_usage_order(v, out, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "from_ts")) != NULL &&
	    admin_uint("from_ts", v, &out->from_ts, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "until_ts")) != NULL) {
		if (admin_uint("until_ts", v, &out->until_ts, err) < 0)
			return -1;
		if (out->until_ts <= out->from_ts)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "Query parameter until_ts must be greater than "
			    "from_ts.");
	}
	if ((v = admin_param(names, values, n, "search_term")) != NULL) {
		if (v[0] == '\0')
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "Query parameter search_term cannot be an empty "
			    "string.");
		if (strlen(v) > MR_ADMIN_SEARCH_MAX)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "Query parameter search_term is too long");
		snprintf(out->search_term, sizeof(out->search_term), "%s", v);
	}
	return 0;
}

/* before_ts: required, in ms (Synapse refuses what looks like seconds). */
static int
admin_before_ts(const char *const *names, const char *const *values,
    unsigned n, struct mr_admin_params *out, struct mr_err *err)
{
	const char *v = admin_param(names, values, n, "before_ts");

	if (v == NULL)
		return mr_err_set(err, 400, "M_MISSING_PARAM",
		    "Missing integer query parameter 'before_ts'");
	if (admin_uint("before_ts", v, &out->before_ts, err) < 0)
		return -1;
	if (out->before_ts < ADMIN_TS_MIN)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "Query parameter before_ts you provided is from the year "
		    "1970. Double check that you are providing a timestamp in "
		    "milliseconds.");
	return 0;
}

static int
admin_delete_params(const char *const *names, const char *const *values,
    unsigned n, struct mr_admin_params *out, struct mr_err *err)
{
	const char *v;

	if (admin_before_ts(names, values, n, out, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "size_gt")) != NULL &&
	    admin_uint("size_gt", v, &out->size_gt, err) < 0)
		return -1;
	if ((v = admin_param(names, values, n, "keep_profiles")) != NULL) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "Boolean query parameter 'keep_profiles' must be "
			    "one of ['true', 'false']");
		out->keep_profiles = v[0] == 't';
	}
	return 0;
}

int
mr_admin_parse_params(enum mr_admin_op op, const char *const *names,
    const char *const *values, unsigned n, struct mr_admin_params *out,
    struct mr_err *err)
{
	memset(out, 0, sizeof(*out));
	out->limit = 100;
	out->keep_profiles = 1;
	out->order = MR_STORE_ORDER_CREATED_TS;
	out->usage_order = MR_STORE_USAGE_USER_ID;
	switch (op) {
	case MR_ADMIN_USER_MEDIA_LIST:
	case MR_ADMIN_USER_MEDIA_DELETE:
		return admin_user_media_params(names, values, n, out, err);
	case MR_ADMIN_USER_STATS:
		return admin_stats_params(names, values, n, out, err);
	case MR_ADMIN_DELETE_OLD:
		return admin_delete_params(names, values, n, out, err);
	case MR_ADMIN_PURGE_CACHE:
		return admin_before_ts(names, values, n, out, err);
	default:
		return 0;
	}
}

const char *
mr_admin_op_name(enum mr_admin_op op)
{
	static const char *const names[MR_ADMIN__OPS] = {
		[MR_ADMIN_MEDIA_INFO] = "media_info",
		[MR_ADMIN_MEDIA_DELETE] = "delete_media",
		[MR_ADMIN_QUARANTINE] = "quarantine",
		[MR_ADMIN_UNQUARANTINE] = "unquarantine",
		[MR_ADMIN_PROTECT] = "protect",
		[MR_ADMIN_UNPROTECT] = "unprotect",
		[MR_ADMIN_USER_QUARANTINE] = "quarantine_user_media",
		[MR_ADMIN_ROOM_QUARANTINE] = "quarantine_room_media",
		[MR_ADMIN_USER_MEDIA_LIST] = "list_user_media",
		[MR_ADMIN_USER_MEDIA_DELETE] = "delete_user_media",
		[MR_ADMIN_DELETE_OLD] = "delete_old_media",
		[MR_ADMIN_PURGE_CACHE] = "purge_media_cache",
		[MR_ADMIN_USER_STATS] = "user_media_statistics",
	};

	return (unsigned)op < MR_ADMIN__OPS ? names[op] : "unknown";
}
