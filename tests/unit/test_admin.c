/*
 * test_admin: Synapse's admin API shapes (admin_api: paths and query
 * parameters, valid and hostile tables) and the admin module over a temp
 * store: quarantine as an admin with copies and protected media, the media
 * query's filters, order and paging, per-user usage, last access and the
 * deletes retention runs (those on SQLite, then on PostgreSQL), and the
 * admin log line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture_store.h"
#include "fixture_pg.h"

#include "../../common/admin.h"
#include "../../common/admin_api.h"
#include "../../common/auth_whoami.h"
#include "../../common/log.h"

#define LOCAL "example.org"

/* --- paths --- */

static const struct {
	const char *method, *path;
	enum mr_admin_op op;
	const char *server, *id, *user, *room;
} valid_paths[] = {
	{ "GET", "media/example.org/abc", MR_ADMIN_MEDIA_INFO, LOCAL, "abc" },
	{ "GET", "media/far.test/abc", MR_ADMIN_MEDIA_INFO, "far.test", "abc" },
	{ "DELETE", "media/example.org/abc", MR_ADMIN_MEDIA_DELETE, LOCAL,
	  "abc" },
	{ "POST", "media/quarantine/far.test/x_Y-1", MR_ADMIN_QUARANTINE,
	  "far.test", "x_Y-1" },
	{ "POST", "media/unquarantine/example.org/a", MR_ADMIN_UNQUARANTINE,
	  LOCAL, "a" },
	{ "POST", "media/far.test/abc/quarantine", MR_ADMIN_QUARANTINE,
	  "far.test", "abc" },
	{ "POST", "media/protect/abc", MR_ADMIN_PROTECT, LOCAL, "abc" },
	{ "POST", "media/unprotect/abc", MR_ADMIN_UNPROTECT, LOCAL, "abc" },
	{ "POST", "media/delete", MR_ADMIN_DELETE_OLD },
	{ "POST", "media/example.org/delete", MR_ADMIN_DELETE_OLD },
	{ "POST", "user/@bob:far.test/media/quarantine",
	  MR_ADMIN_USER_QUARANTINE, NULL, NULL, "@bob:far.test" },
	{ "POST", "user/%40bob%3Aexample.org/media/quarantine",
	  MR_ADMIN_USER_QUARANTINE, NULL, NULL, "@bob:example.org" },
	{ "GET", "users/@bob:example.org/media", MR_ADMIN_USER_MEDIA_LIST,
	  NULL, NULL, "@bob:example.org" },
	{ "DELETE", "users/@bob:example.org/media",
	  MR_ADMIN_USER_MEDIA_DELETE, NULL, NULL, "@bob:example.org" },
	{ "POST", "room/!r:example.org/media/quarantine",
	  MR_ADMIN_ROOM_QUARANTINE, NULL, NULL, NULL, "!r:example.org" },
	{ "POST", "quarantine_media/%21opaque_v12", MR_ADMIN_ROOM_QUARANTINE,
	  NULL, NULL, NULL, "!opaque_v12" },
	{ "POST", "purge_media_cache", MR_ADMIN_PURGE_CACHE },
	{ "GET", "statistics/users/media", MR_ADMIN_USER_STATS },
};

static void
test_paths_valid(void **state)
{
	struct mr_admin_call c;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(valid_paths) / sizeof(valid_paths[0]);
	    i++) {
		const char *p = valid_paths[i].path;

		if (mr_admin_parse_path(p, strlen(p), valid_paths[i].method,
		    LOCAL, &c, &err) != 0)
			fail_msg("%s %s: %s", valid_paths[i].method, p, err.msg);
		assert_int_equal(c.op, valid_paths[i].op);
		if (valid_paths[i].id != NULL) {
			assert_string_equal(c.mxc.server, valid_paths[i].server);
			assert_string_equal(c.mxc.id, valid_paths[i].id);
		}
		if (valid_paths[i].user != NULL)
			assert_string_equal(c.user_id, valid_paths[i].user);
		if (valid_paths[i].room != NULL)
			assert_string_equal(c.room_id, valid_paths[i].room);
	}
}

static const struct {
	const char *method, *path;
	int status;
	const char *errcode;
} invalid_paths[] = {
	{ "GET", "", 404, "M_UNRECOGNIZED" },
	{ "GET", "media", 404, "M_UNRECOGNIZED" },
	{ "GET", "media/", 404, "M_UNRECOGNIZED" },
	{ "GET", "media/a/b/c/d/e/f", 404, "M_UNRECOGNIZED" },
	{ "GET", "rooms/!r:x/media", 404, "M_UNRECOGNIZED" },
	{ "GET", "purge_media_cache/", 404, "M_UNRECOGNIZED" },
	{ "GET", "purge_media_cache", 405, "M_UNRECOGNIZED" },
	{ "POST", "statistics/users/media", 405, "M_UNRECOGNIZED" },
	{ "PUT", "media/example.org/abc", 405, "M_UNRECOGNIZED" },
	{ "GET", "media/quarantine/example.org/abc", 405, "M_UNRECOGNIZED" },
	{ "POST", "users/@b:example.org/media", 405, "M_UNRECOGNIZED" },
	{ "GET", "media/bad..name/abc", 400, "M_INVALID_PARAM" },
	{ "GET", "media/example.org/a.b", 400, "M_INVALID_PARAM" },
	{ "GET", "media/example.org/a%00b", 400, "M_INVALID_PARAM" },
	{ "GET", "media/example.org/%zz", 400, "M_INVALID_PARAM" },
	{ "DELETE", "media/far.test/abc", 400, "M_UNKNOWN" },
	{ "POST", "media/far.test/delete", 400, "M_UNKNOWN" },
	{ "POST", "user/bob/media/quarantine", 400, "M_INVALID_PARAM" },
	{ "GET", "users/@bob:far.test/media", 400, "M_UNKNOWN" },
	{ "POST", "room/r:x/media/quarantine", 400, "M_INVALID_PARAM" },
	{ "POST", "quarantine_media/!a%2Fb", 400, "M_INVALID_PARAM" },
	{ "POST", "quarantine_media/!", 400, "M_INVALID_PARAM" },
};

static void
test_paths_invalid(void **state)
{
	struct mr_admin_call c;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(invalid_paths) / sizeof(invalid_paths[0]);
	    i++) {
		const char *p = invalid_paths[i].path;

		mr_err_clear(&err);
		if (mr_admin_parse_path(p, strlen(p), invalid_paths[i].method,
		    LOCAL, &c, &err) != -1)
			fail_msg("accepted %s %s", invalid_paths[i].method, p);
		if (err.status != invalid_paths[i].status ||
		    strcmp(err.errcode, invalid_paths[i].errcode) != 0)
			fail_msg("%s %s: %d %s", invalid_paths[i].method, p,
			    err.status, err.errcode);
	}
}

/* --- query parameters --- */

/* "a=1&b=2" split into names and values (test-only, no decoding). */
struct qs {
	char buf[512];
	const char *names[16], *values[16];
	unsigned n;
};

static void
qs_parse(struct qs *q, const char *s)
{
	char *p;

	snprintf(q->buf, sizeof(q->buf), "%s", s);
	q->n = 0;
	for (p = strtok(q->buf, "&"); p != NULL && q->n < 16;
	    p = strtok(NULL, "&")) {
		char *eq = strchr(p, '=');

		if (eq != NULL)
			*eq++ = '\0';
		q->names[q->n] = p;
		q->values[q->n++] = eq != NULL ? eq : "";
	}
}

static int
params(enum mr_admin_op op, const char *query, struct mr_admin_params *out,
    struct mr_err *err)
{
	struct qs q;

	qs_parse(&q, query);
	return mr_admin_parse_params(op, q.names, q.values, q.n, out, err);
}

static void
test_params_defaults_and_values(void **state)
{
	struct mr_admin_params p;
	struct mr_err err;

	(void)state;
	/* Neither order_by nor dir: newest first. */
	assert_int_equal(params(MR_ADMIN_USER_MEDIA_LIST, "", &p, &err), 0);
	assert_int_equal(p.from, 0);
	assert_int_equal(p.limit, 100);
	assert_int_equal(p.order, MR_STORE_ORDER_CREATED_TS);
	assert_int_equal(p.descending, 1);
	/* One of them: forwards unless dir says otherwise. */
	assert_int_equal(params(MR_ADMIN_USER_MEDIA_LIST,
	    "order_by=media_length&from=20&limit=5&access_token=x", &p, &err), 0);
	assert_int_equal(p.order, MR_STORE_ORDER_MEDIA_LENGTH);
	assert_int_equal(p.descending, 0);
	assert_int_equal(p.from, 20);
	assert_int_equal(p.limit, 5);
	assert_int_equal(params(MR_ADMIN_USER_MEDIA_DELETE, "dir=b", &p, &err),
	    0);
	assert_int_equal(p.descending, 1);
	assert_int_equal(params(MR_ADMIN_USER_STATS, "order_by=displayname&"
	    "search_term=bo&from_ts=5&until_ts=6&dir=b", &p, &err), 0);
	assert_int_equal(p.usage_order, MR_STORE_USAGE_USER_ID);
	assert_string_equal(p.search_term, "bo");
	assert_int_equal(p.until_ts, 6);
	assert_int_equal(params(MR_ADMIN_DELETE_OLD,
	    "before_ts=1700000000000&size_gt=10&keep_profiles=false", &p, &err),
	    0);
	assert_int_equal(p.before_ts, INT64_C(1700000000000));
	assert_int_equal(p.size_gt, 10);
	assert_int_equal(p.keep_profiles, 0);
	assert_int_equal(params(MR_ADMIN_PURGE_CACHE, "before_ts=30000000000",
	    &p, &err), 0);
	/* Calls without parameters ignore any. */
	assert_int_equal(params(MR_ADMIN_QUARANTINE, "limit=x", &p, &err), 0);
}

static const struct {
	enum mr_admin_op op;
	const char *query, *errcode;
} invalid_params[] = {
	{ MR_ADMIN_USER_MEDIA_LIST, "from=-1", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_MEDIA_LIST, "limit=ten", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_MEDIA_LIST, "limit=", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_MEDIA_LIST, "order_by=size", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_MEDIA_LIST, "order_by=media_count", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_MEDIA_LIST, "dir=F", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_STATS, "order_by=media_id", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_STATS, "search_term=", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_STATS, "from_ts=10&until_ts=10", "M_INVALID_PARAM" },
	{ MR_ADMIN_USER_STATS, "until_ts=-4", "M_INVALID_PARAM" },
	{ MR_ADMIN_DELETE_OLD, "", "M_MISSING_PARAM" },
	{ MR_ADMIN_DELETE_OLD, "before_ts=1700000000", "M_INVALID_PARAM" },
	{ MR_ADMIN_DELETE_OLD, "before_ts=1700000000000&size_gt=-1",
	  "M_INVALID_PARAM" },
	{ MR_ADMIN_DELETE_OLD, "before_ts=1700000000000&keep_profiles=1",
	  "M_INVALID_PARAM" },
	{ MR_ADMIN_PURGE_CACHE, "before_ts=-1", "M_INVALID_PARAM" },
	{ MR_ADMIN_PURGE_CACHE, "before_ts=1e12", "M_INVALID_PARAM" },
	{ MR_ADMIN_PURGE_CACHE, "after_ts=1700000000000", "M_MISSING_PARAM" },
};

static void
test_params_invalid(void **state)
{
	struct mr_admin_params p;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(invalid_params) /
	    sizeof(invalid_params[0]); i++) {
		mr_err_clear(&err);
		if (params(invalid_params[i].op, invalid_params[i].query, &p,
		    &err) != -1)
			fail_msg("accepted %s", invalid_params[i].query);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.errcode, invalid_params[i].errcode);
	}
}

/* --- the store and the admin module --- */

static void
row(struct fixture_media *fx, const char *server, const char *id,
    const char *user, char fill, int64_t size, int64_t created)
{
	struct mr_media m;
	struct mr_err err;
	char sha[65];

	memset(sha, fill, 64);
	sha[64] = '\0';
	fixture_media_row(&m, server, id, sha, size);
	snprintf(m.user_id, sizeof(m.user_id), "%s", user ? user : "");
	m.created_ts = created;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), MR_STORE_OK);
}

static struct mr_media
get(struct fixture_media *fx, const char *server, const char *id)
{
	struct mr_media m;
	struct mr_mxc mxc;
	struct mr_err err;

	assert_int_equal(mr_mxc_from_parts(server, id, &mxc, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &mxc, &m, &err),
	    MR_STORE_OK);
	return m;
}

/* mxc of server/id, in a buffer that lives until the next call. */
static const struct mr_mxc *
mxcp(const char *server, const char *id)
{
	static struct mr_mxc m;
	struct mr_err err;

	assert_int_equal(mr_mxc_from_parts(server, id, &m, &err), 0);
	return &m;
}

static void
test_quarantine_as_covers_copies_not_protected(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_store_sel sel = { NULL, NULL, "@alice:example.org" };
	struct mr_mxc mxc;
	struct mr_err err;
	char hash[65];
	int64_t n;

	row(fx, LOCAL, "a1", "@alice:example.org", 'a', 1, 1);
	row(fx, LOCAL, "a2", "@alice:example.org", 'b', 1, 2);
	row(fx, LOCAL, "b1", "@bob:example.org", 'a', 1, 3);	/* a1's bytes */
	row(fx, LOCAL, "b2", "@bob:example.org", 'c', 1, 4);
	mxc = get(fx, LOCAL, "a2").mxc;
	assert_int_equal(mr_admin_protect(fx->st, &mxc, 1, &err), 0);
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 1, "@mod:example.org",
	    &n, &err), 0);
	assert_int_equal(n, 2);		/* a1 and its copy b1 */
	assert_int_equal(get(fx, LOCAL, "a1").quarantined, 1);
	assert_string_equal(get(fx, LOCAL, "b1").quarantined_by,
	    "@mod:example.org");
	assert_int_equal(get(fx, LOCAL, "a2").quarantined, 0);
	assert_int_equal(get(fx, LOCAL, "b2").quarantined, 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, get(fx, LOCAL,
	    "a1").sha256, &err), MR_STORE_OK);
	assert_int_equal(mr_store_hash_quarantined(fx->st, get(fx, LOCAL,
	    "a2").sha256, &err), MR_STORE_NOT_FOUND);
	/* Released by one id: its copies and the hash go too. */
	sel.user_id = NULL;
	mxc = get(fx, LOCAL, "b1").mxc;
	sel.mxc = &mxc;
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 0, "x", &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(get(fx, LOCAL, "a1").quarantined, 0);
	assert_string_equal(get(fx, LOCAL, "a1").quarantined_by, "");
	assert_int_equal(mr_store_hash_quarantined(fx->st, get(fx, LOCAL,
	    "a1").sha256, &err), MR_STORE_NOT_FOUND);
	/* Unknown media: nothing, no error. */
	assert_int_equal(mr_mxc_from_parts(LOCAL, "nosuch", &mxc, &err), 0);
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 1, "x", &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mr_admin_protect(fx->st, &mxc, 1, &err), -1);
	assert_int_equal(err.status, 404);
	/* By hash: its rows, and the hash even when no row has it. */
	memset(&sel, 0, sizeof(sel));
	snprintf(hash, sizeof(hash), "%s", get(fx, LOCAL, "b2").sha256);
	sel.sha256 = hash;
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 1, "@m:x", &n, &err),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(get(fx, LOCAL, "b2").quarantined_by, "@m:x");
	memset(hash, 'f', 64);
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 1, "@m:x", &n, &err),
	    0);
	assert_int_equal(n, 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, hash, &err),
	    MR_STORE_OK);
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 0, "@m:x", &n, &err),
	    0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, hash, &err),
	    MR_STORE_NOT_FOUND);
}

/* Media ids a query returned, comma-joined. */
static void
join_id(const struct mr_media *m, void *arg)
{
	char *s = arg;

	if (s[0] != '\0')
		strcat(s, ",");
	strcat(s, m->mxc.id);
}

static void
test_media_query_filters_orders_pages(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_store_media_query q;
	struct mr_err err;
	char ids[256];
	int64_t total;

	row(fx, LOCAL, "m1", "@u:example.org", '1', 30, 100);
	row(fx, LOCAL, "m2", "@u:example.org", '2', 10, 300);
	row(fx, LOCAL, "m3", "@u:example.org", '3', 20, 200);
	row(fx, LOCAL, "o1", "@o:example.org", '4', 5, 50);
	row(fx, "far.test", "r1", NULL, '5', 7, 10);
	memset(&q, 0, sizeof(q));
	q.origin = MR_STORE_ORIGIN_LOCAL;
	q.local_server = LOCAL;
	q.user_id = "@u:example.org";
	q.descending = 1;
	q.limit = 2;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, &total,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "m2,m3");
	assert_int_equal(total, 3);
	q.offset = 2;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, NULL,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "m1");
	q.offset = 0;
	q.limit = -1;
	q.order = MR_STORE_ORDER_MEDIA_LENGTH;
	q.descending = 0;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, NULL,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "m2,m3,m1");
	/* Last access decides over creation once there is one. */
	assert_int_equal(mr_store_media_touch(fx->st, mxcp(LOCAL, "m1"), 1000, &err), MR_STORE_OK);
	assert_int_equal(get(fx, LOCAL, "m1").last_access_ts, 1000);
	/* Within the hour: not written again. */
	assert_int_equal(mr_store_media_touch(fx->st, mxcp(LOCAL, "m1"), 2000, &err), MR_STORE_OK);
	assert_int_equal(get(fx, LOCAL, "m1").last_access_ts, 1000);
	q.user_id = NULL;
	q.accessed_before = 250;
	q.size_gt = 6;
	q.order = MR_STORE_ORDER_CREATED_TS;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, &total,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "m3");
	q.origin = MR_STORE_ORIGIN_REMOTE;
	q.size_gt = 0;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, NULL,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "r1");
}

/* "user:count:bytes;" per user a usage query returned. */
static void
join_usage(const char *user_id, const struct mr_store_count *c, void *arg)
{
	char *s = arg;

	snprintf(s + strlen(s), 256 - strlen(s), "%s:%lld:%lld;", user_id,
	    (long long)c->count, (long long)c->bytes);
}

static void
test_user_media_usage(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_store_usage_query q;
	struct mr_err err;
	char out[256];
	int64_t total;

	row(fx, LOCAL, "a", "@ann:example.org", '1', 5, 100);
	row(fx, LOCAL, "b", "@ann:example.org", '2', 5, 200);
	row(fx, LOCAL, "c", "@bo_b:example.org", '3', 50, 300);
	row(fx, "far.test", "d", "@ann:far.test", '4', 1, 300);
	memset(&q, 0, sizeof(q));
	q.local_server = LOCAL;
	q.order = MR_STORE_USAGE_MEDIA_LENGTH;
	q.descending = 1;
	q.limit = 10;
	out[0] = '\0';
	assert_int_equal(mr_store_user_media_usage(fx->st, &q, join_usage, out,
	    &total, &err), MR_STORE_OK);
	assert_string_equal(out, "@bo_b:example.org:1:50;@ann:example.org:2:10;");
	assert_int_equal(total, 2);
	/* LIKE's own characters are literal in a search. */
	q.search = "_";
	out[0] = '\0';
	assert_int_equal(mr_store_user_media_usage(fx->st, &q, join_usage, out,
	    &total, &err), MR_STORE_OK);
	assert_string_equal(out, "@bo_b:example.org:1:50;");
	q.search = NULL;
	q.from_ts = 150;
	q.until_ts = 250;
	out[0] = '\0';
	assert_int_equal(mr_store_user_media_usage(fx->st, &q, join_usage, out,
	    &total, &err), MR_STORE_OK);
	assert_string_equal(out, "@ann:example.org:1:5;");
}

/* A row of user named name (NULL: no name), its bytes filled with fill. */
static void
named_row(struct fixture_media *fx, const char *id, const char *user,
    const char *name, char fill)
{
	struct mr_media m;
	struct mr_err err;
	char sha[65];

	memset(sha, fill, 64);
	sha[64] = '\0';
	fixture_media_row(&m, LOCAL, id, sha, 1);
	snprintf(m.user_id, sizeof(m.user_id), "%s", user);
	snprintf(m.upload_name, sizeof(m.upload_name), "%s", name ? name : "");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), MR_STORE_OK);
}

/*
 * What could differ between the backends: a missing name sorts first
 * ascending and last descending, names compare byte by byte, and a search
 * ignores the case of ASCII letters.
 */
static void
test_query_nulls_bytes_and_search_case(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_store_media_query q;
	struct mr_store_usage_query u;
	struct mr_err err;
	char ids[256], out[256];
	int64_t total;

	named_row(fx, "n1", "@Ann:example.org", NULL, '1');
	named_row(fx, "n2", "@bob:example.org", "b.txt", '2');
	named_row(fx, "n3", "@bob:example.org", "B.txt", '3');
	memset(&q, 0, sizeof(q));
	q.order = MR_STORE_ORDER_UPLOAD_NAME;
	q.limit = -1;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, &total,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "n1,n3,n2");
	assert_int_equal(total, 3);
	q.descending = 1;
	ids[0] = '\0';
	assert_int_equal(mr_store_media_query(fx->st, &q, join_id, ids, NULL,
	    &err), MR_STORE_OK);
	assert_string_equal(ids, "n2,n3,n1");
	memset(&u, 0, sizeof(u));
	u.local_server = LOCAL;
	u.search = "aNN";
	u.limit = 10;
	out[0] = '\0';
	assert_int_equal(mr_store_user_media_usage(fx->st, &u, join_usage, out,
	    &total, &err), MR_STORE_OK);
	assert_string_equal(out, "@Ann:example.org:1:1;");
	assert_int_equal(total, 1);
}

static void
put_blob(struct fixture_media *fx, const char *data, char sha[65])
{
	struct mr_err err;

	assert_int_equal(mr_blob_put(fx->blob, data, strlen(data), sha, &err),
	    0);
}

static void
stored_row(struct fixture_media *fx, const char *server, const char *id,
    const char *data, int64_t created)
{
	struct mr_media m;
	struct mr_err err;
	char sha[65];

	put_blob(fx, data, sha);
	fixture_media_row(&m, server, id, sha, (int64_t)strlen(data));
	m.created_ts = created;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), MR_STORE_OK);
}

static void
test_purge_expired(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_admin_expired x;
	struct mr_store_sel sel;
	struct mr_mxc mxc;
	struct mr_err err;
	int64_t now = INT64_C(1800000000000), day = 86400000, n;
	char ids[256] = "";

	stored_row(fx, LOCAL, "old", "old bytes", now - 40 * day);
	stored_row(fx, LOCAL, "new", "new bytes", now - day);
	stored_row(fx, LOCAL, "safe", "safe bytes", now - 40 * day);
	stored_row(fx, LOCAL, "quar", "quar bytes", now - 40 * day);
	stored_row(fx, "far.test", "rold", "remote old", now - 10 * day);
	stored_row(fx, "far.test", "read", "remote read", now - 10 * day);
	mxc = get(fx, LOCAL, "safe").mxc;
	assert_int_equal(mr_admin_protect(fx->st, &mxc, 1, &err), 0);
	mxc = get(fx, LOCAL, "quar").mxc;
	memset(&sel, 0, sizeof(sel));
	sel.mxc = &mxc;
	assert_int_equal(mr_admin_quarantine(fx->st, &sel, 1, "m", &n, &err), 0);
	assert_int_equal(mr_store_media_touch(fx->st, mxcp("far.test", "read"), now - day, &err), MR_STORE_OK);
	/* Unset lifetimes keep everything. */
	assert_int_equal(mr_admin_purge_expired(&fx->cfg, fx->st, fx->blob, now,
	    0, NULL, NULL, NULL, &x, &err), 0);
	assert_true(x.local_kept && x.remote_kept);
	fx->cfg.media_retention_local_media_lifetime = 30 * day;
	fx->cfg.media_retention_remote_media_lifetime = 7 * day;
	assert_int_equal(mr_admin_purge_expired(&fx->cfg, fx->st, fx->blob, now,
	    1, join_id, ids, NULL, &x, &err), 0);
	assert_string_equal(ids, "old,rold");
	assert_int_equal(x.local.media + x.remote.media, 2);
	assert_int_equal(x.local.freed.blobs, 0);	/* a dry run */
	assert_int_equal(mr_admin_purge_expired(&fx->cfg, fx->st, fx->blob, now,
	    0, NULL, NULL, NULL, &x, &err), 0);
	assert_int_equal(x.local.media, 1);
	assert_int_equal(x.remote.media, 1);
	assert_int_equal(x.local.freed.blobs + x.remote.freed.blobs, 2);
	assert_int_equal(mr_store_media_get(fx->st, mxcp(LOCAL, "new"),
	    &(struct mr_media){ 0 }, &err), MR_STORE_OK);
	assert_int_equal(mr_mxc_from_parts(LOCAL, "old", &mxc, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &mxc,
	    &(struct mr_media){ 0 }, &err), MR_STORE_NOT_FOUND);
	get(fx, LOCAL, "safe");
	get(fx, LOCAL, "quar");
	get(fx, "far.test", "read");
}

/* --- who is an admin, and the log line --- */

static void
test_admin_list_and_answer(void **state)
{
	struct mr_err err;
	int is_admin;

	(void)state;
	assert_true(mr_auth_user_listed("@a:x.org, @b:y.org", "@b:y.org"));
	assert_false(mr_auth_user_listed("@a:x.org, @b:y.org", "@b:y.or"));
	assert_false(mr_auth_user_listed("@a:x.org", "@a:x.org2"));
	assert_false(mr_auth_user_listed("", "@a:x.org"));
	assert_int_equal(mr_auth_admin_parse(200, "{\"admin\": true}", 15,
	    &is_admin, &err), 0);
	assert_true(is_admin);
	assert_int_equal(mr_auth_admin_parse(200, "{\"admin\": 1}", 12,
	    &is_admin, &err), 0);
	assert_false(is_admin);
	assert_int_equal(mr_auth_admin_parse(403, NULL, 0, &is_admin, &err), 0);
	assert_false(is_admin);
	assert_int_equal(mr_auth_admin_parse(502, NULL, 0, &is_admin, &err), -1);
	assert_int_equal(err.status, 503);
	assert_int_equal(mr_auth_admin_parse(302, NULL, 0, &is_admin, &err), -1);
	assert_int_equal(err.status, 502);
}

static void
test_admin_log_line(void **state)
{
	struct mr_log_admin a = { INT64_C(1800000000000), "admin", "0123",
	    "@mod:x.org", "quarantine", "mxc://x.org/a\nb", 3 };
	char line[512];
	size_t n;

	(void)state;
	n = mr_log_format_admin(&a, MR_LOG_TEXT, line, sizeof(line));
	assert_int_equal(n, strlen(line));
	assert_non_null(strstr(line, "admin @mod:x.org quarantine "
	    "mxc://x.org/a\\x0ab count=3"));
	assert_null(strchr(line, '\n'));
	n = mr_log_format_admin(&a, MR_LOG_JSON, line, sizeof(line));
	assert_non_null(strstr(line, "\"admin\":\"@mod:x.org\""));
	assert_non_null(strstr(line, "\"count\":3"));
	assert_int_equal(mr_log_format_admin(&a, MR_LOG_JSON, line, 10), 9);
}

/* The PostgreSQL group hashes blobs too. */
static int
pg_group_setup(void **state)
{
	return fixture_sodium_setup(state) < 0 ? -1 :
	    fixture_pg_group_setup(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_valid),
		cmocka_unit_test(test_paths_invalid),
		cmocka_unit_test(test_params_defaults_and_values),
		cmocka_unit_test(test_params_invalid),
		FIXTURE_MEDIA_TEST(test_quarantine_as_covers_copies_not_protected),
		FIXTURE_MEDIA_TEST(test_media_query_filters_orders_pages),
		FIXTURE_MEDIA_TEST(test_user_media_usage),
		FIXTURE_MEDIA_TEST(test_query_nulls_bytes_and_search_case),
		FIXTURE_MEDIA_TEST(test_purge_expired),
		cmocka_unit_test(test_admin_list_and_answer),
		cmocka_unit_test(test_admin_log_line),
	};

	/* The store's cases again, on PostgreSQL. */
	const struct CMUnitTest pg_tests[] = {
		FIXTURE_PG_MEDIA_TEST(test_quarantine_as_covers_copies_not_protected),
		FIXTURE_PG_MEDIA_TEST(test_media_query_filters_orders_pages),
		FIXTURE_PG_MEDIA_TEST(test_user_media_usage),
		FIXTURE_PG_MEDIA_TEST(test_query_nulls_bytes_and_search_case),
		FIXTURE_PG_MEDIA_TEST(test_purge_expired),
	};
	int failed = cmocka_run_group_tests_name("sqlite", tests,
	    fixture_sodium_setup, NULL);

	return failed + cmocka_run_group_tests_name("postgresql", pg_tests,
	    pg_group_setup, fixture_pg_group_teardown);
}
