/*
 * admin_api: the shapes of Synapse's media admin API (admin.fcgi), parsed
 * before anything runs: which call a path under /_synapse/admin/v1/ makes,
 * and its query parameters with Synapse's defaults and refusals. Pure: no
 * store, no request, so table tests and a fuzzer drive it directly.
 */
#ifndef MR_ADMIN_API_H
#define MR_ADMIN_API_H

#include <stdint.h>

#include "mxc.h"
#include "store.h"
#include "util.h"

enum mr_admin_op {
	MR_ADMIN_MEDIA_INFO,		/* GET media/{server}/{id} */
	MR_ADMIN_MEDIA_DELETE,		/* DELETE media/{server}/{id} */
	MR_ADMIN_QUARANTINE,		/* POST media/quarantine/{server}/{id} */
	MR_ADMIN_UNQUARANTINE,		/* POST media/unquarantine/{server}/{id} */
	MR_ADMIN_PROTECT,		/* POST media/protect/{id} */
	MR_ADMIN_UNPROTECT,		/* POST media/unprotect/{id} */
	MR_ADMIN_USER_QUARANTINE,	/* POST user/{userId}/media/quarantine */
	MR_ADMIN_ROOM_QUARANTINE,	/* POST room/{roomId}/media/quarantine,
					 * quarantine_media/{roomId} */
	MR_ADMIN_USER_MEDIA_LIST,	/* GET users/{userId}/media */
	MR_ADMIN_USER_MEDIA_DELETE,	/* DELETE users/{userId}/media */
	MR_ADMIN_DELETE_OLD,		/* POST media/delete, media/{server}/delete */
	MR_ADMIN_PURGE_CACHE,		/* POST purge_media_cache */
	MR_ADMIN_USER_STATS,		/* GET statistics/users/media */
	MR_ADMIN__OPS
};

#define MR_ROOM_ID_MAX 255

/* One call: the operation and what its path names. */
struct mr_admin_call {
	enum mr_admin_op op;
	struct mr_mxc mxc;		/* media operations */
	char user_id[MR_USER_ID_MAX + 1];
	char room_id[MR_ROOM_ID_MAX + 1];
};

/*
 * Reads path, the raw (percent-encoded) path after "/_synapse/admin/v1/"
 * without its query, called with method ("GET", "POST", "DELETE", ...).
 * local_server names protect's media and is the only server whose media
 * may be deleted and whose users listed. 0 and *out; or -1 with 404
 * M_UNRECOGNIZED (no such call), 405 M_UNRECOGNIZED (a call of another
 * method), 400 M_INVALID_PARAM (a server, media, user or room id that is
 * not one) or 400 M_UNKNOWN (another server's media or users, as Synapse
 * says). Besides Synapse's paths it takes Mjolnir's
 * media/{server}/{id}/quarantine.
 */
int mr_admin_parse_path(const char *path, size_t len, const char *method,
    const char *local_server, struct mr_admin_call *out, struct mr_err *err);

#define MR_ADMIN_SEARCH_MAX 255

/* The query parameters of a call, with Synapse's defaults filled in. */
struct mr_admin_params {
	int64_t from, limit;			/* paging: 0, 100 */
	enum mr_store_media_order order;	/* users/{id}/media */
	enum mr_store_usage_order usage_order;	/* statistics */
	int descending;				/* dir=b */
	int64_t before_ts, size_gt;		/* deletes and purges */
	int keep_profiles;
	int64_t from_ts, until_ts;		/* statistics; until 0: none */
	char search_term[MR_ADMIN_SEARCH_MAX + 1];	/* "" when not given */
};

/*
 * Reads the n decoded query parameters (names[i] = values[i]) that op
 * takes, ignoring others (access_token). 0 and *out; -1 with 400
 * M_MISSING_PARAM (before_ts where it is required) or M_INVALID_PARAM (a
 * value Synapse refuses: not a non-negative integer, an unknown order_by
 * or dir, before_ts in seconds rather than ms, until_ts not after
 * from_ts, an empty search_term, keep_profiles not true or false).
 */
int mr_admin_parse_params(enum mr_admin_op op, const char *const *names,
    const char *const *values, unsigned n, struct mr_admin_params *out,
    struct mr_err *err);

/* Synapse's name of an operation, for log lines: "quarantine", ... */
const char *mr_admin_op_name(enum mr_admin_op op);

#endif
